/**
 * LLM-BIP (DESIGN.md): scores in units of the block-output change.
 *   FFN channel k:  S_k = ||W_down[:,k]||_2 * mean_t |s_tk|                  (exact)
 *   head h:         S_h = mean_t (1 + L_t) * ||W_o^(h) z_{h,t}||_2           (upper bound)
 *   L_t = ||W_down||_2 * (max_k |silu'(g_tk) u_tk| * ||W_gate||_2 + max_k |silu(g_tk)| * ||W_up||_2) * max|gamma_2| / rms(m_t)
 * Under GQA a KV group's score is the sum of its query heads' scores.
 *
 * Options
 *   headTerm: 'lipschitz' (default, the bound above) | 'direct' (mean_t ||W_o^(h) z_{h,t}||, the change
 *             of m without the FFN's propagation) | 'none' (the "FFN term only" ablation: heads are not
 *             scored, so allocation keeps every head and takes the whole ratio from FFN channels)
 *   spectralNorms: precomputed SpectralNorms (otherwise computed here by Lanczos, reporting each matrix
 *                  through `progress.onProgress`, step 'spectral norms')
 */
import type { ModelSpec } from '@llm-bip/model';
import { spectralNorms as computeSpectralNorms } from '../spectral.js';
import { blockOutputNorm, tapValues } from '../statistics.js';
import type { Criterion, GroupScores, ScoreProgress, SpectralNorms, Statistics, Tap } from '../types.js';
import { perInputSum, square, type WeightSource } from '../weights.js';
import { headGranularity, optionOf, sumPerGroup } from './common.js';

const HEAD_TERMS = ['lipschitz', 'direct', 'none'] as const;

export const llmBip: Criterion = {
  name: 'llm-bip',
  description: 'LLM-BIP: exact FFN-channel block-output change; head bound mean_t (1+L_t)||W_o^(h) z_h|| (Lipschitz through the FFN)',

  taps(spec, options) {
    const headTerm = optionOf(options, 'headTerm', HEAD_TERMS, 'lipschitz');
    return spec.layers.flatMap((l): Tap[] => {
      const t: Tap[] = [{ layer: l.index, tensor: 'ffnAct', reduction: 'sumAbs' }];
      if (headTerm !== 'none') t.push({ layer: l.index, tensor: 'attnContext', reduction: 'headNorm' });
      if (headTerm === 'lipschitz') {
        t.push(
          { layer: l.index, tensor: 'attnContext', reduction: 'headNormSlope' },
          { layer: l.index, tensor: 'attnContext', reduction: 'headNormValue' },
          { layer: l.index, tensor: 'residualMid', reduction: 'lipschitzSlope' },
          { layer: l.index, tensor: 'residualMid', reduction: 'lipschitzValue' },
        );
      }
      return t;
    });
  },

  async score(stats: Statistics, weights: WeightSource, spec: ModelSpec, options, progress?: ScoreProgress) {
    const headTerm = optionOf(options, 'headTerm', HEAD_TERMS, 'lipschitz');
    const onProgress = progress?.onProgress;
    const norms =
      headTerm === 'lipschitz'
        ? ((options?.spectralNorms as SpectralNorms | undefined) ??
          (await computeSpectralNorms(spec, weights, {
            ...(onProgress ? { onProgress: (done, total, detail) => onProgress({ step: 'spectral norms', done, total, unit: 'matrix', detail }) } : {}),
          })))
        : undefined;
    const n = stats.tokens;
    const layers: GroupScores['layers'] = [];
    for (const l of spec.layers) {
      const get = (tensor: Tap['tensor'], reduction: Tap['reduction']) => tapValues(stats, { layer: l.index, tensor, reduction }, 'llm-bip');
      const down = await weights.linear(l.down);
      const downColNorm = perInputSum(down, square).map(Math.sqrt);
      const sumAbs = get('ffnAct', 'sumAbs');
      const channels = Array.from(downColNorm, (w, k) => (w * sumAbs[k]!) / n);
      const details: Record<string, number | number[]> = {};
      let heads: number[] | null = null;
      if (headTerm !== 'none') {
        const direct = get('attnContext', 'headNorm');
        details.headDirectNorm = direct.map((v) => v / n);
        let perHead = direct;
        if (headTerm === 'lipschitz') {
          const sn = norms!.layers.find((s) => s.layer === l.index);
          if (!sn) throw new RangeError(`spectral norms have no layer ${l.index}`);
          const c = sn.down * sn.gmax;
          const slope = get('attnContext', 'headNormSlope');
          const value = get('attnContext', 'headNormValue');
          perHead = direct.map((d, h) => d + c * (sn.gate * slope[h]! + sn.up * value[h]!));
          details.meanLipschitz = (c * (sn.gate * get('residualMid', 'lipschitzSlope')[0]! + sn.up * get('residualMid', 'lipschitzValue')[0]!)) / n;
        }
        heads = sumPerGroup(l, perHead.map((v) => v / n));
      }
      const bon = blockOutputNorm(stats, l.index);
      layers.push({ layer: l.index, heads, channels, ...(bon !== undefined ? { blockOutputNorm: bon } : {}), details });
    }
    return {
      criterion: 'llm-bip',
      headGranularity: headGranularity(spec),
      layers,
      defaultAllocation: 'global-kind',
      options: { headTerm, ...(norms ? { spectralNorms: norms } : {}) },
    };
  },
};
