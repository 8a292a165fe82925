/**
 * Weight access for criteria: a projection's weight as a dense float32 matrix in one canonical layout,
 * whatever the exporter stored (MatMul [in, out], Gemm transB [out, in], fused qkv column ranges,
 * fp16/bf16). Read one tensor at a time; nothing is cached, so a 7B model never sits in memory.
 */
import { readTensorAsFloat32, tensorDims, type ModelProto, type TensorProto } from '@llm-bip/onnx-io';
import type { LinearRef } from '@llm-bip/model';
import { ScoringError } from './errors.js';

/** W as used in y = x W: row i = input feature i, column o = output feature o; data row-major [inFeatures][outFeatures]. */
export interface LinearWeight {
  inFeatures: number;
  outFeatures: number;
  data: Float32Array;
}

export interface WeightSource {
  linear(ref: LinearRef): Promise<LinearWeight>;
  /** a 1-D initializer (norm gains) */
  vector(name: string): Promise<Float32Array>;
}

/** Weights read from a loaded model's initializers (inline or external data under `baseDir`). */
export function modelWeights(model: ModelProto, baseDir: string): WeightSource {
  const byName = new Map<string, TensorProto>();
  for (const t of model.graph?.initializer ?? []) if (t.name) byName.set(t.name, t);
  const tensor = (name: string): TensorProto => {
    const t = byName.get(name);
    if (!t) throw new ScoringError(`initializer "${name}" named by the model spec is not in the model: the spec was recognised from a different model file`);
    return t;
  };
  return {
    async linear(ref) {
      const t = tensor(ref.weight);
      const dims = tensorDims(t);
      if (dims.length !== 2) throw new ScoringError(`weight "${ref.weight}" has dims [${dims}], expected a 2-D matrix`);
      return canonicalLinear(await readTensorAsFloat32(t, baseDir), dims as [number, number], ref);
    },
    async vector(name) {
      return readTensorAsFloat32(tensor(name), baseDir);
    },
  };
}

/** Bring stored data ([in, out] with outAxis 1, or [out, in] with outAxis 0) into [in][out], keeping `columns` only. */
export function canonicalLinear(data: Float32Array, dims: [number, number], ref: Pick<LinearRef, 'outAxis' | 'columns' | 'weight'>): LinearWeight {
  const inF = ref.outAxis === 1 ? dims[0] : dims[1];
  const outAll = ref.outAxis === 1 ? dims[1] : dims[0];
  const start = ref.columns?.start ?? 0;
  const end = ref.columns?.end ?? outAll;
  if (start < 0 || end > outAll || start >= end) {
    throw new ScoringError(`weight "${ref.weight}": column range ${start}..${end} is outside its ${outAll} output features`);
  }
  const outF = end - start;
  if (ref.outAxis === 1 && start === 0 && end === outAll) return { inFeatures: inF, outFeatures: outF, data };
  const out = new Float32Array(inF * outF);
  for (let i = 0; i < inF; i++) {
    for (let o = 0; o < outF; o++) {
      out[i * outF + o] = ref.outAxis === 1 ? data[i * outAll + start + o]! : data[(start + o) * inF + i]!;
    }
  }
  return { inFeatures: inF, outFeatures: outF, data: out };
}

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
