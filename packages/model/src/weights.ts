/**
 * A model's weights by ModelSpec role, one tensor at a time: a projection's weight as a dense float32
 * matrix in one canonical layout, whatever the exporter stored (MatMul [in, out], Gemm transB [out, in],
 * fused qkv column ranges, fp16/bf16). Nothing is cached, so a 7B model never sits in memory. Scoring
 * (criteria) and the GGUF export read weights through here.
 */
import { categorisedError, readTensorAsFloat32, tensorDims, type ModelProto, type TensorProto } from '@llm-bip/onnx-io';
import type { LinearRef } from './spec.js';

export class WeightReadError extends categorisedError('WeightReadError', 'input') {}

/** W as used in y = x W: row i = input feature i, column o = output feature o; data row-major [inFeatures][outFeatures]. */
export interface LinearWeight {
  inFeatures: number;
  outFeatures: number;
  data: Float32Array;
}

export interface WeightSource {
  linear(ref: LinearRef): Promise<LinearWeight>;
  /** a 1-D initializer (norm gains, biases) */
  vector(name: string): Promise<Float32Array>;
  /** any initializer with its dims (the embedding table) */
  tensor(name: string): Promise<{ dims: number[]; data: Float32Array }>;
}

/** Weights read from a loaded model's initializers (inline or external data under `baseDir`). */
export function modelWeights(model: ModelProto, baseDir: string): WeightSource {
  const byName = new Map<string, TensorProto>();
  for (const t of model.graph?.initializer ?? []) if (t.name) byName.set(t.name, t);
  const tensor = (name: string): TensorProto => {
    const t = byName.get(name);
    if (!t) throw new WeightReadError(`initializer "${name}" named by the model spec is not in the model: the spec was recognised from a different model file`);
    return t;
  };
  return {
    async linear(ref) {
      const t = tensor(ref.weight);
      const dims = tensorDims(t);
      if (dims.length !== 2) throw new WeightReadError(`weight "${ref.weight}" has dims [${dims}], expected a 2-D matrix`);
      return canonicalLinear(await readTensorAsFloat32(t, baseDir), dims as [number, number], ref);
    },
    async vector(name) {
      return readTensorAsFloat32(tensor(name), baseDir);
    },
    async tensor(name) {
      const t = tensor(name);
      return { dims: tensorDims(t), data: await readTensorAsFloat32(t, baseDir) };
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
    throw new WeightReadError(`weight "${ref.weight}": column range ${start}..${end} is outside its ${outAll} output features`);
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
