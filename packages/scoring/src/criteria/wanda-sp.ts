/**
 * Wanda-sp, as FLAP's implementation (metric "WIFN"): per input channel j of o_proj / down_proj,
 *   I_j = mean_i |W[i,j]| * sqrt(mean_t x_tj^2)
 * A head scores the sum over its channels (a KV group: over all its query heads' channels).
 * Designed for uniform allocation (FLAP's "UL-UM").
 */
import { blockOutputNorm, tapValues } from '../statistics.js';
import type { Criterion, GroupScores } from '../types.js';
import { abs, perInputSum } from '../weights.js';
import { headGranularity, perHeadFromChannels, sumPerGroup } from './common.js';

export const wandaSp: Criterion = {
  name: 'wanda-sp',
  description: 'Wanda-sp (FLAP implementation): mean_i |W_ij| * sqrt(mean_t x_j^2) per o_proj/down_proj input channel; heads sum their channels',
  taps(spec) {
    return spec.layers.flatMap((l) => [
      { layer: l.index, tensor: 'attnContext', reduction: 'sumSquares' },
      { layer: l.index, tensor: 'ffnAct', reduction: 'sumSquares' },
    ]);
  },
  async score(stats, weights, spec) {
    const n = stats.tokens;
    const layers: GroupScores['layers'] = [];
    for (const l of spec.layers) {
      const metric = async (ref: typeof l.o, tensor: 'attnContext' | 'ffnAct') => {
        const w = await weights.linear(ref);
        const meanAbs = perInputSum(w, abs).map((s) => s / w.outFeatures);
        const sq = tapValues(stats, { layer: l.index, tensor, reduction: 'sumSquares' }, 'wanda-sp');
        return Array.from(meanAbs, (a, j) => a * Math.sqrt(sq[j]! / n));
      };
      const attnChannel = await metric(l.o, 'attnContext');
      const channels = await metric(l.down, 'ffnAct');
      const bon = blockOutputNorm(stats, l.index);
      layers.push({
        layer: l.index,
        heads: sumPerGroup(l, perHeadFromChannels(l, attnChannel, 'sum')),
        channels,
        ...(bon !== undefined ? { blockOutputNorm: bon } : {}),
      });
    }
    return { criterion: 'wanda-sp', headGranularity: headGranularity(spec), layers, defaultAllocation: 'uniform' };
  },
};
