/**
 * The GGUF tensors of a LLaMA model found by ModelSpec role (never by exporter names), in llama.cpp's
 * names and layouts:
 *
 *   token_embd [vocab, hidden]   output_norm [hidden] (F32)   output [vocab, hidden] (absent when tied)
 *   blk.N.attn_norm / ffn_norm [hidden] (F32)
 *   blk.N.attn_q [heads*hd, hidden]  attn_k / attn_v [kvHeads*hd, hidden]  attn_output [hidden, heads*hd]
 *   blk.N.ffn_gate / ffn_up [ffn, hidden]  ffn_down [hidden, ffn]
 *   blk.N.*.bias (F32) where the projection has one (bias compensation adds them to attn_output / ffn_down)
 *   rope_freqs [hd/2] (F32) for Llama 3.1 rope scaling
 *
 * Shapes are row-major [out, in] (the HF layout); ONNX MatMul weights are [in, out] and are transposed.
 * Q and K rows are permuted within each head: HF rotates the two halves of a head (rotate_half), ggml's
 * normal rope rotates adjacent pairs, so GGUF row 2j + k of a head is HF row k * hd/2 + j (what
 * llama.cpp's convert_hf_to_gguf.py does for LLaMA). Tensors are produced one at a time, when written.
 */
import { GgmlType, QK8_0, encodeValues, type GgmlTypeCode, type GgufTensorSource } from '@llm-bip/gguf';
import type { LinearRef, ModelSpec } from '../spec.js';
import type { WeightSource } from '../weights.js';
import { GgufExportError } from './errors.js';

export type GgufDtype = 'f32' | 'f16' | 'bf16' | 'q8_0';

export const GGUF_DTYPES: readonly GgufDtype[] = ['f32', 'f16', 'bf16', 'q8_0'];

const MATRIX_TYPE: Record<GgufDtype, GgmlTypeCode> = { f32: GgmlType.F32, f16: GgmlType.F16, bf16: GgmlType.BF16, q8_0: GgmlType.Q8_0 };

/** The type a matrix with rows of `rowLength` values gets: Q8_0 needs rows of whole 32-value blocks, else F16 (as llama.cpp's quantizer falls back). */
export function matrixType(dtype: GgufDtype, rowLength: number): GgmlTypeCode {
  const t = MATRIX_TYPE[dtype];
  return t === GgmlType.Q8_0 && rowLength % QK8_0 !== 0 ? GgmlType.F16 : t;
}

export interface GgufTensorPlanOptions {
  dtype: GgufDtype;
  /** Q/K rows need the rotate_half -> adjacent-pairs permutation (HF layout); false for interleaved rope graphs */
  permuteQk: boolean;
  /** rope_freqs vector (Llama 3.1 scaling), written once */
  ropeFactors?: Float32Array;
}

export function ggufTensors(spec: ModelSpec, weights: WeightSource, opts: GgufTensorPlanOptions): GgufTensorSource[] {
  const H = spec.hiddenSize;
  const out: GgufTensorSource[] = [];
  const vector = (name: string, source: string, length: number): GgufTensorSource => ({
    name,
    shape: [length],
    type: GgmlType.F32,
    data: async () => {
      const v = await weights.vector(source);
      if (v.length !== length) throw new GgufExportError(`initializer "${source}" has ${v.length} values, expected ${length} for ${name}`);
      return encodeValues(v, GgmlType.F32);
    },
  });
  const matrix = (name: string, ref: LinearRef, rows: number, cols: number, permuteHeads?: number): GgufTensorSource => ({
    name,
    shape: [rows, cols],
    type: matrixType(opts.dtype, cols),
    data: async () => encodeValues(await rowsOf(weights, ref, rows, cols, permuteHeads), matrixType(opts.dtype, cols)),
  });
  const bias = (name: string, ref: LinearRef, length: number, permuteHeads?: number): GgufTensorSource[] =>
    ref.bias
      ? [
          {
            name,
            shape: [length],
            type: GgmlType.F32,
            data: async () => {
              const v = await weights.vector(ref.bias!);
              const sliced = ref.columns ? v.subarray(ref.columns.start, ref.columns.end) : v;
              if (sliced.length !== length) throw new GgufExportError(`bias "${ref.bias}" has ${sliced.length} values, expected ${length} for ${name}`);
              return encodeValues(permuteHeads ? permuteRows(sliced, length, 1, permuteHeads) : Float32Array.from(sliced), GgmlType.F32);
            },
          },
        ]
      : [];

  out.push({
    name: 'token_embd.weight',
    shape: [spec.vocabSize, H],
    type: matrixType(opts.dtype, H),
    data: async () => {
      const t = await weights.tensor(spec.embedding.weight);
      if (t.dims.length !== 2 || t.dims[0] !== spec.vocabSize || t.dims[1] !== H) {
        throw new GgufExportError(`embedding "${spec.embedding.weight}" has dims [${t.dims.join(', ')}], expected [${spec.vocabSize}, ${H}]`);
      }
      return encodeValues(t.data, matrixType(opts.dtype, H));
    },
  });
  if (opts.ropeFactors) {
    const f = opts.ropeFactors;
    out.push({ name: 'rope_freqs.weight', shape: [f.length], type: GgmlType.F32, data: () => encodeValues(f, GgmlType.F32) });
  }
  for (const l of spec.layers) {
    const p = `blk.${l.index}`;
    const q = l.numHeads * l.headDim;
    const kv = l.numKvHeads * l.headDim;
    const ffn = l.intermediateSize;
    const perm = opts.permuteQk ? l.headDim : undefined;
    out.push(
      vector(`${p}.attn_norm.weight`, l.attnNorm.weight, H),
      matrix(`${p}.attn_q.weight`, l.q, q, H, perm),
      ...bias(`${p}.attn_q.bias`, l.q, q, perm),
      matrix(`${p}.attn_k.weight`, l.k, kv, H, perm),
      ...bias(`${p}.attn_k.bias`, l.k, kv, perm),
      matrix(`${p}.attn_v.weight`, l.v, kv, H),
      ...bias(`${p}.attn_v.bias`, l.v, kv),
      matrix(`${p}.attn_output.weight`, l.o, H, q),
      ...bias(`${p}.attn_output.bias`, l.o, H),
      vector(`${p}.ffn_norm.weight`, l.ffnNorm.weight, H),
      matrix(`${p}.ffn_gate.weight`, l.gate, ffn, H),
      ...bias(`${p}.ffn_gate.bias`, l.gate, ffn),
      matrix(`${p}.ffn_up.weight`, l.up, ffn, H),
      ...bias(`${p}.ffn_up.bias`, l.up, ffn),
      matrix(`${p}.ffn_down.weight`, l.down, H, ffn),
      ...bias(`${p}.ffn_down.bias`, l.down, H),
    );
  }
  out.push(vector('output_norm.weight', spec.finalNorm.weight, H));
  if (!spec.tiedEmbeddings) out.push(matrix('output.weight', spec.lmHead, spec.vocabSize, H));
  return out;
}

/** A projection as row-major [out][in] (rows = output features), Q/K rows permuted per head when asked. */
async function rowsOf(weights: WeightSource, ref: LinearRef, rows: number, cols: number, permuteHeads: number | undefined): Promise<Float32Array> {
  const w = await weights.linear(ref); // [in][out]
  if (w.outFeatures !== rows || w.inFeatures !== cols) {
    throw new GgufExportError(`weight "${ref.weight}" is ${w.inFeatures} -> ${w.outFeatures} features, expected ${cols} -> ${rows}: the model spec and its weights disagree`);
  }
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const src = permuteHeads ? sourceRow(r, permuteHeads) : r;
    for (let i = 0; i < cols; i++) out[r * cols + i] = w.data[i * rows + src]!;
  }
  return out;
}

/** HF row feeding GGUF row `r` of a head-major Q/K projection with heads of `headDim` rows. */
export function sourceRow(r: number, headDim: number): number {
  const head = Math.floor(r / headDim);
  const within = r % headDim;
  const j = within >> 1;
  const k = within & 1;
  return head * headDim + k * (headDim / 2) + j;
}

function permuteRows(data: Float32Array, rows: number, cols: number, headDim: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) out.set(data.subarray(sourceRow(r, headDim) * cols, (sourceRow(r, headDim) + 1) * cols), r * cols);
  return out;
}
