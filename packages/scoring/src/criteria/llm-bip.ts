/**
 * LLM-BIP (DESIGN.md): scores in units of the block-output change.
 *   FFN channel k:  S_k = ||W_down[:,k]||_2 * mean_t |s_tk|                  (exact)
 *   head h:         S_h = mean_t (1 + L_t) * ||W_o^(h) z_{h,t}||_2           (upper bound)
 *   L_t = ||W_down||_2 * (max_k |φ'(g_tk) u_tk| * ||W_gate||_2 + max_k |φ(g_tk)| * ||W_up||_2) * max_i|c + γ_i| / rms(m_t)
 * Under GQA a KV group's score is the sum of its query heads' scores.
 *
 * L_t for any gated MLP and any RMSNorm gain (SwiGLU with gain γ: φ = silu, c = 0, as in DESIGN.md;
 * GeGLU with Gemma's gain 1 + w: φ = gelu_tanh, c = 1). The FFN branch is
 *   F(m) = W_down s,  s = φ(g) ⊙ u,  g = W_gate v,  u = W_up v,  v = N(m) = (c + γ) ⊙ m / r(m),
 *   r(m) = sqrt(mean_i m_i² + ε).
 * Its Jacobian at m_t is, by the chain and product rules,
 *   J_F = W_down [diag(φ'(g) ⊙ u) W_gate + diag(φ(g)) W_up] J_N,
 *   J_N = diag(c + γ) (I - m mᵀ / (n r²)) / r.
 * The bracketed projector P = I - m mᵀ/(n r²) is symmetric with eigenvalues 1 (on m⊥) and
 * 1 - |m|²/(n r²) = ε / r² ∈ [0, 1] (along m), so ||P||₂ <= 1 and ||J_N||₂ <= max_i|c + γ_i| / r(m_t).
 * With ||diag(a) W||₂ <= max|a| ||W||₂ and the triangle inequality,
 *   ||J_F(m_t)||₂ <= ||W_down||₂ (max_k|φ'(g_k) u_k| ||W_gate||₂ + max_k|φ(g_k)| ||W_up||₂) max_i|c + γ_i| / r(m_t) = L_t.
 * Removing head h moves m_t by δ_t and y_t = m_t + F(m_t) by δ_t + J_F δ_t to first order, so
 * ||Δy_t|| <= (1 + L_t) ||δ_t||. Nothing in this depends on which φ it is: only the per-token maxima
 * of |φ'(g) u| and |φ(g)| change; for gelu_tanh, with t = tanh(√(2/π)(g + 0.044715 g³)),
 *   φ(g) = g (1 + t) / 2,   φ'(g) = (1 + t) / 2 + g (1 - t²) √(2/π) (1 + 3·0.044715 g²) / 2,
 * built in the probe graph (probe/build-probe.ts). The gain offset c enters through max|c + γ|
 * (spectral.ts). criteria/families.test.ts checks the bound against the measured change of every token
 * of every head group on the family fixtures (GeGLU and 1 + w included).
 *
 * Options
 *   headTerm: 'lipschitz' (default, the bound above) | 'direct' (mean_t ||W_o^(h) z_{h,t}||, the change
 *             of m without the FFN's propagation) | 'none' (the "FFN term only" ablation: heads are not
 *             scored, so allocation keeps every head and takes the whole ratio from FFN channels)
 *   spectralNorms: precomputed SpectralNorms (otherwise computed here by Lanczos, reporting each matrix
 *                  through `progress.onProgress`, step 'spectral norms'; on `progress.compute`'s EP in
 *                  lockstep when the run gives it, else one CPU session per matrix)
 */
import type { LinearRef, ModelSpec } from '@llm-bip/model';
import { spectralNorms as computeSpectralNorms, type SpectralNormsOptions } from '../spectral.js';
import { blockOutputNorm, tapValues } from '../statistics.js';
import { weightStatistics } from '../weight-stats.js';
import type { Criterion, GroupScores, ScoreCompute, ScoreProgress, SpectralNorms, Statistics, Tap } from '../types.js';
import { perInputSum, square, type LinearWeight, type WeightSource } from '../weights.js';
import { headGranularity, optionOf, sumPerGroup } from './common.js';

const HEAD_TERMS = ['lipschitz', 'direct', 'none'] as const;

export const llmBip: Criterion = {
  name: 'llm-bip',
  description: 'LLM-BIP: exact FFN-channel block-output change; head bound mean_t (1+L_t)||W_o^(h) z_h|| (Lipschitz through the FFN)',
  options: [
    {
      name: 'headTerm',
      type: 'string',
      choices: HEAD_TERMS,
      default: 'lipschitz',
      valueName: 'T',
      help: 'llm-bip ablations: lipschitz (the bound, mean_t (1+L_t)||W_o z||) | direct (without the Lipschitz factor) | none (FFN term only: heads are kept)',
    },
    { name: 'spectralNorms', type: 'object', help: 'precomputed SpectralNorms (skips the power iteration)' },
  ],

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
    // ||W_down[:,k]|| per channel: on the run's EP from the stored weights when the run says where
    // (weight-stats.ts, float64, sqrt here); else from W_down read in JS, taken while the per-matrix
    // spectral norms have it in memory (one read per layer)
    const downColNorms = new Map<string, Float64Array>();
    const compute = progress?.compute;
    if (compute) {
      const squares = await weightStatistics(spec, compute, spec.layers.map((l) => ({ layer: l.index, kind: 'inputSquares' as const, projection: 'down' as const })), progress?.onLog ? { onLog: progress.onLog } : {});
      for (const l of spec.layers) downColNorms.set(linearKey(l.down), squares.inputSquares(l.index, 'down').map(Math.sqrt));
    }
    const downNames = new Set(spec.layers.map((l) => l.down.weight));
    const noting: WeightSource = {
      ...weights,
      async linear(ref) {
        const w = await weights.linear(ref);
        if (downNames.has(ref.weight) && !downColNorms.has(linearKey(ref))) downColNorms.set(linearKey(ref), columnNorms(w));
        return w;
      },
    };
    const norms =
      headTerm === 'lipschitz'
        ? ((options?.spectralNorms as SpectralNorms | undefined) ??
          (await computeSpectralNorms(spec, noting, {
            ...(onProgress ? { onProgress: (done, total, detail) => onProgress({ step: 'spectral norms', done, total, unit: 'matrix', detail }) } : {}),
            ...(progress?.onLog ? { onLog: progress.onLog } : {}),
            ...spectralSite(progress?.compute),
          })))
        : undefined;
    const n = stats.tokens;
    const layers: GroupScores['layers'] = [];
    for (const l of spec.layers) {
      const get = (tensor: Tap['tensor'], reduction: Tap['reduction']) => tapValues(stats, { layer: l.index, tensor, reduction }, 'llm-bip');
      const downColNorm = downColNorms.get(linearKey(l.down)) ?? columnNorms(await weights.linear(l.down));
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

/** The products on the scoring run's EP with the model's weights in place, when the run says where (spectral.ts). */
function spectralSite(c: ScoreCompute | undefined): Pick<SpectralNormsOptions, 'model' | 'ep' | 'threads' | 'maxDeviceMemory'> {
  if (!c) return {};
  return {
    model: c.model,
    ...(c.ep ? { ep: c.ep } : {}),
    ...(c.threads ? { threads: c.threads } : {}),
    ...(c.maxDeviceMemory !== undefined ? { maxDeviceMemory: c.maxDeviceMemory } : {}),
  };
}

/** ||W[:,k]||_2 for every input k (W stored [in][out]: the 2-norm of row k; without a compute site). */
function columnNorms(w: LinearWeight): Float64Array {
  return perInputSum(w, square).map(Math.sqrt);
}

/** A projection weight's identity: its initializer and, for a fused tensor, its column range. */
function linearKey(ref: LinearRef): string {
  return `${ref.weight}[${ref.columns?.start ?? ''}:${ref.columns?.end ?? ''}]`;
}
