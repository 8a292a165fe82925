/**
 * Magnitude: the L2 norm of every weight a group owns.
 *   head group: q columns of its query heads, k and v columns of its KV head, o_proj input rows of its query heads
 *   channel k: gate and up output column k, down_proj input row k
 * Needs no calibration (block output norms are taken from statistics when given, for cross-layer allocations).
 */
import { blockOutputNorm } from '../statistics.js';
import type { Criterion, GroupScores } from '../types.js';
import { perInputSum, perOutputSum, square } from '../weights.js';
import { headGranularity } from './common.js';

export const magnitude: Criterion = {
  name: 'magnitude',
  description: 'L2 norm of each group\'s weights (no calibration needed)',
  taps: () => [],
  async score(stats, weights, spec) {
    const layers: GroupScores['layers'] = [];
    for (const l of spec.layers) {
      const d = l.headDim;
      const rep = l.numHeads / l.numKvHeads;
      const q = perOutputSum(await weights.linear(l.q), square);
      const k = perOutputSum(await weights.linear(l.k), square);
      const v = perOutputSum(await weights.linear(l.v), square);
      const o = perInputSum(await weights.linear(l.o), square);
      const span = (a: Float64Array, from: number, to: number) => a.slice(from, to).reduce((x, y) => x + y, 0);
      const heads = Array.from({ length: l.numKvHeads }, (_, g) => {
        const qFrom = g * rep * d;
        const qTo = (g + 1) * rep * d;
        return Math.sqrt(span(q, qFrom, qTo) + span(o, qFrom, qTo) + span(k, g * d, (g + 1) * d) + span(v, g * d, (g + 1) * d));
      });
      const gate = perOutputSum(await weights.linear(l.gate), square);
      const up = perOutputSum(await weights.linear(l.up), square);
      const down = perInputSum(await weights.linear(l.down), square);
      const channels = Array.from(gate, (gk, c) => Math.sqrt(gk + up[c]! + down[c]!));
      const bon = blockOutputNorm(stats, l.index);
      layers.push({ layer: l.index, heads, channels, ...(bon !== undefined ? { blockOutputNorm: bon } : {}) });
    }
    return { criterion: 'magnitude', headGranularity: headGranularity(spec), layers, defaultAllocation: 'uniform' };
  },
};
