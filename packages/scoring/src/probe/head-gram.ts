/**
 * Per-head Gram matrices of o_proj for the probe's head norms: G_h = W_o^(h)T W_o^(h), [heads, headDim,
 * headDim] (in the canonical [in][out] layout: head h's headDim input rows times themselves transposed). Two ways:
 * - `headGrams` (used by buildProbe): one batched float64 MatMul per layer in ONNX Runtime on the scoring
 *   EP, W_o referenced in the model's (external) data as stored and Cast in the graph (weight-stats.ts),
 *   the layers in groups under the memory budget, one run per group.
 * - `hostHeadGram`: the float64 loop in JavaScript, one core; kept as the reference.
 * Both accumulate in float64 and round once to float32, so they give the same float32 values (unless a
 * float64 sum lies within about 1e-16 of a float32 rounding boundary), and statistics do not move. A
 * float32 MatMul would be faster again but moves G by up to 3e-7 of its diagonal.
 */
import type { LayerSpec, ModelSpec } from '@llm-bip/model';
import { ScoringError } from '../errors.js';
import type { ScoreCompute } from '../types.js';
import { weightStatistics, type WeightStatsOptions } from '../weight-stats.js';
import type { LinearWeight, WeightSource } from '../weights.js';

/** W_o of a layer, checked against the layer's heads (the spec and the weight must agree). */
async function oProj(layer: LayerSpec, weights: WeightSource): Promise<LinearWeight> {
  const w = await weights.linear(layer.o);
  const { numHeads: H, headDim: D } = layer;
  if (w.inFeatures !== H * D) {
    throw new ScoringError(`layer ${layer.index}: o_proj takes ${w.inFeatures} inputs, expected numHeads*headDim = ${H * D}: the spec does not fit this weight`);
  }
  return w;
}

/** G_h for every query head, [H, D, D] in float32, accumulated in float64 in JavaScript (the reference). */
export async function hostHeadGram(layer: LayerSpec, weights: WeightSource): Promise<Float32Array> {
  const w = await oProj(layer, weights);
  const { numHeads: H, headDim: D } = layer;
  const out = w.outFeatures;
  const g = new Float32Array(H * D * D);
  for (let h = 0; h < H; h++) {
    for (let d = 0; d < D; d++) {
      const rd = (h * D + d) * out;
      for (let e = d; e < D; e++) {
        const re = (h * D + e) * out;
        let s = 0;
        for (let o = 0; o < out; o++) s += w.data[rd + o]! * w.data[re + o]!;
        g[h * D * D + d * D + e] = s;
        g[h * D * D + e * D + d] = s;
      }
    }
  }
  return g;
}

/**
 * G for each of `layers` on `site.ep` (default 'auto'), from `site.model`'s stored W_o (weight-stats.ts):
 * float32 [H, D, D] by layer index.
 */
export async function headGrams(spec: ModelSpec, layers: readonly LayerSpec[], site: ScoreCompute, opts: WeightStatsOptions = {}): Promise<Map<number, Float32Array>> {
  const stats = await weightStatistics(spec, site, layers.map((l) => ({ layer: l.index, kind: 'headGram' as const })), opts);
  return new Map(layers.map((l) => [l.index, stats.headGram(l.index)]));
}
