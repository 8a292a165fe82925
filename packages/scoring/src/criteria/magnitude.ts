/**
 * Magnitude: the L2 norm of every weight a group owns, as `groupsOf` lists them (groups.ts in @llm-bip/model):
 *   head group: q columns of its query heads, k and v columns of its KV head, o_proj input rows of its query heads
 *   channel k: gate and up output column k, down_proj input row k (and the q/k/v, gate/up bias entries, if any)
 * Needs no calibration (block output norms are taken from statistics when given, for cross-layer allocations).
 */
import { layerGroups, type Group, type GroupSlice } from '@llm-bip/model';
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
      // per-index sums of squares of each sliced (tensor, axis), read once per layer: q, k and v of a fused weight share one read
      const sums = new Map<string, Float64Array>();
      const sumsOf = async (s: GroupSlice): Promise<Float64Array> => {
        const key = `${s.tensor}|${s.axis}`;
        let r = sums.get(key);
        if (!r) {
          // the tensor as stored ([d0][d1]); a bias holds one value per index
          r = s.role.endsWith('.bias')
            ? Float64Array.from(await weights.vector(s.tensor), square)
            : (s.axis === 1 ? perOutputSum : perInputSum)(await weights.linear({ node: '', weight: s.tensor, outAxis: 1 }), square);
          sums.set(key, r);
        }
        return r;
      };
      // L2 norm over exactly the group's slices (groups.ts)
      const norm = async (g: Group): Promise<number> => {
        let total = 0;
        for (const s of g.slices) {
          const r = await sumsOf(s);
          total += s.indices.reduce((a, i) => a + r[i]!, 0);
        }
        return Math.sqrt(total);
      };
      const groups = layerGroups(spec, l.index);
      const heads: number[] = [];
      for (const g of groups.heads) heads.push(await norm(g));
      const channels: number[] = [];
      for (const g of groups.channels) channels.push(await norm(g));
      const bon = blockOutputNorm(stats, l.index);
      layers.push({ layer: l.index, heads, channels, ...(bon !== undefined ? { blockOutputNorm: bon } : {}) });
    }
    return { criterion: 'magnitude', headGranularity: headGranularity(spec), layers, defaultAllocation: 'uniform' };
  },
};
