/**
 * Random: uniform scores from a seeded RNG (option `seed`: the run's calibration seed through the pipeline, else 0); the floor every criterion must beat.
 * Needs no calibration and no weights (block output norms are taken from statistics when given).
 */
import { seededRng } from '../rng.js';
import { blockOutputNorm } from '../statistics.js';
import type { Criterion } from '../types.js';
import { headGranularity } from './common.js';

export const random: Criterion = {
  name: 'random',
  description: 'uniform random scores (seeded); the baseline floor',
  options: [{ name: 'seed', type: 'integer', defaultFrom: 'seed', valueName: 'S', help: 'seed of the random draw (default: the calibration seed)' }],
  taps: () => [],
  async score(stats, _weights, spec, options) {
    const seed = (options?.seed as number | undefined) ?? 0;
    const rng = seededRng(seed);
    const layers = spec.layers.map((l) => {
      const bon = blockOutputNorm(stats, l.index);
      return {
        layer: l.index,
        heads: Array.from({ length: l.numKvHeads }, () => rng.next()),
        channels: Array.from({ length: l.intermediateSize }, () => rng.next()),
        ...(bon !== undefined ? { blockOutputNorm: bon } : {}),
      };
    });
    return { criterion: 'random', headGranularity: headGranularity(spec), layers, defaultAllocation: 'uniform', options: { seed } };
  },
};
