/**
 * FLAP (metric "WIFV", structure "AL-AM"):
 *   fluctuation of input channel j:  F_j = var_t(x_tj) * ||W[:,j]||_2^2   (var = mean of squares - squared mean)
 *   attention channels are squared again: F_j^2 (as FLAP's code).
 * Per-layer standardisation of each kind: (F - mean) / std over the layer's channels (std with n-1,
 * as torch.std). A head's score is the mean of its standardised channels; a KV group's, the mean over
 * all its query heads' channels. The scores feed the 'al-am' allocation (one threshold over heads and
 * channels weighted by their parameter counts). The raw fluctuations are kept in `details`, and the
 * projection-input means for bias compensation are in the statistics (compensationStats).
 */
import { blockOutputNorm, tapValues } from '../statistics.js';
import type { Criterion, GroupScores } from '../types.js';
import { perInputSum, square } from '../weights.js';
import { headGranularity } from './common.js';

export const flap: Criterion = {
  name: 'flap',
  description: 'FLAP: fluctuation var_t(x_j)*||W[:,j]||^2, per-layer standardised, AL-AM global threshold, bias compensation',
  taps(spec) {
    return spec.layers.flatMap((l) => [
      { layer: l.index, tensor: 'attnContext', reduction: 'sum' },
      { layer: l.index, tensor: 'attnContext', reduction: 'sumSquares' },
      { layer: l.index, tensor: 'ffnAct', reduction: 'sum' },
      { layer: l.index, tensor: 'ffnAct', reduction: 'sumSquares' },
    ]);
  },
  async score(stats, weights, spec) {
    const n = stats.tokens;
    const layers: GroupScores['layers'] = [];
    for (const l of spec.layers) {
      const fluctuation = async (ref: typeof l.o, tensor: 'attnContext' | 'ffnAct') => {
        const colSq = perInputSum(await weights.linear(ref), square);
        const s = tapValues(stats, { layer: l.index, tensor, reduction: 'sum' }, 'flap');
        const sq = tapValues(stats, { layer: l.index, tensor, reduction: 'sumSquares' }, 'flap');
        return Array.from(colSq, (w, j) => (sq[j]! / n - (s[j]! / n) ** 2) * w);
      };
      const attnChannel = (await fluctuation(l.o, 'attnContext')).map((f) => f * f);
      const ffn = await fluctuation(l.down, 'ffnAct');
      const attnStd = standardise(attnChannel);
      const groupWidth = (l.numHeads / l.numKvHeads) * l.headDim;
      const heads = Array.from({ length: l.numKvHeads }, (_, g) => mean(attnStd.slice(g * groupWidth, (g + 1) * groupWidth)));
      const bon = blockOutputNorm(stats, l.index);
      layers.push({
        layer: l.index,
        heads,
        channels: standardise(ffn),
        ...(bon !== undefined ? { blockOutputNorm: bon } : {}),
        details: { fluctuationAttnChannel: attnChannel, fluctuationFfn: ffn },
      });
    }
    return { criterion: 'flap', headGranularity: headGranularity(spec), layers, defaultAllocation: 'al-am' };
  },
};

function mean(x: number[]): number {
  return x.reduce((a, b) => a + b, 0) / x.length;
}

/** (x - mean) / std, std with n - 1 (torch.std's default). A constant vector standardises to zeros. */
export function standardise(x: number[]): number[] {
  const m = mean(x);
  const v = x.reduce((a, b) => a + (b - m) ** 2, 0) / Math.max(1, x.length - 1);
  const sd = Math.sqrt(v);
  return x.map((e) => (sd > 0 ? (e - m) / sd : 0));
}
