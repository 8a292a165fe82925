/**
 * Reductions over projection weights for criteria. Reading the weights (`modelWeights`, the canonical
 * [in][out] layout) lives in @llm-bip/model, shared with the GGUF export; re-exported here for criteria.
 */
import type { LinearWeight } from '@llm-bip/model';
export { modelWeights, canonicalLinear, type LinearWeight, type WeightSource } from '@llm-bip/model';

/** Sum over output features of f(W[i, o]) for each input feature i (per input row of [in][out]). */
export function perInputSum(w: LinearWeight, f: (v: number) => number): Float64Array {
  const r = new Float64Array(w.inFeatures);
  for (let i = 0; i < w.inFeatures; i++) {
    let s = 0;
    const base = i * w.outFeatures;
    for (let o = 0; o < w.outFeatures; o++) s += f(w.data[base + o]!);
    r[i] = s;
  }
  return r;
}

/** Sum over input features of f(W[i, o]) for each output feature o. */
export function perOutputSum(w: LinearWeight, f: (v: number) => number): Float64Array {
  const r = new Float64Array(w.outFeatures);
  for (let i = 0; i < w.inFeatures; i++) {
    const base = i * w.outFeatures;
    for (let o = 0; o < w.outFeatures; o++) r[o]! += f(w.data[base + o]!);
  }
  return r;
}

export const square = (v: number): number => v * v;
export const abs = (v: number): number => Math.abs(v);
