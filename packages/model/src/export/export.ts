/**
 * HF LlamaForCausalLM folder -> ONNX file. Weights are read from safetensors in bands, converted
 * (dtype, [out, in] -> [in, out]) and written by onnx-io's saveModel: streamed to `<model>.data` with
 * external data, so neither the model nor one whole tensor is ever held in memory (stream-weights.ts);
 * inline for small models.
 */
import { stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { categorisedError, DataType, type ModelProto, encodeFloats, saveModel } from '@llm-bip/onnx-io';
import { readHfConfig, type LlamaConfig } from '../hf/config.js';
import { SafetensorsCheckpoint } from '../hf/safetensors.js';
import { checkCheckpointMatchesConfig } from '../hf/weights.js';
import { buildLlamaGraph, type ExportDtype, type WeightSlot } from './llama-graph.js';
import { streamSlot } from './stream-weights.js';

export class ExportError extends categorisedError('ExportError', 'input') {}

export interface ExportOptions {
  dtype: ExportDtype;
  kvCache: boolean;
  /** stream weights into `<out>.data`; default: only when the weights exceed 1 GiB (protobuf caps a file at 2 GiB) */
  externalData?: boolean;
  onProgress?: (p: { done: number; total: number; tensor: string }) => void;
}

export interface ExportResult {
  config: LlamaConfig;
  onnxPath: string;
  /** the external data file, when one was written */
  dataPath?: string;
  bytesWritten: number;
}

/** HF weights by name, in HF layout ([out, in] for Linear). */
export type WeightLookup = Map<string, ArrayLike<number>> | ((hfName: string) => ArrayLike<number>);

const INLINE_LIMIT = 1024 ** 3;

/** Transpose a row-major [rows, cols] matrix, blocked for cache locality. */
function transpose(src: ArrayLike<number>, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  const B = 64;
  for (let r0 = 0; r0 < rows; r0 += B) {
    const r1 = Math.min(rows, r0 + B);
    for (let c0 = 0; c0 < cols; c0 += B) {
      const c1 = Math.min(cols, c0 + B);
      for (let r = r0; r < r1; r++) for (let c = c0; c < c1; c++) out[c * rows + r] = src[r * cols + c]!;
    }
  }
  return out;
}

/** The bytes of a weight slot in ONNX layout and type, from HF-layout values. */
function slotBytes(slot: WeightSlot, values: ArrayLike<number>): Uint8Array {
  const n = slot.hfShape.reduce((a, b) => a * b, 1);
  if (values.length !== n) throw new ExportError(`weight "${slot.hfName}" has ${values.length} values, expected ${n} for shape [${slot.hfShape}]`);
  // a row block of a fused tensor (Phi-3): rows are contiguous in the [out, in] layout
  const cols = slot.hfShape.length === 2 ? slot.hfShape[1]! : 1;
  const rows = slot.rows ?? { start: 0, end: slot.hfShape[0]! };
  const own = slot.rows ? Float32Array.from({ length: (rows.end - rows.start) * cols }, (_, i) => values[rows.start * cols + i]!) : values;
  const laid = slot.transpose ? transpose(own, rows.end - rows.start, cols) : own instanceof Float32Array ? own : Float32Array.from(own);
  return encodeFloats(laid, slot.tensor.dataType ?? DataType.FLOAT);
}

/** Build the whole model in memory with inline weights (tiny models, tests). */
export function buildLlamaOnnx(config: LlamaConfig, weights: WeightLookup, opts: { dtype: ExportDtype; kvCache: boolean }): ModelProto {
  const get = typeof weights === 'function' ? weights : (n: string) => {
    const w = weights.get(n);
    if (!w) throw new ExportError(`weight "${n}" is missing`);
    return w;
  };
  const { model, weights: slots } = buildLlamaGraph(config, opts);
  for (const s of slots) s.tensor.rawData = slotBytes(s, get(s.hfName));
  return model;
}

/** Export a HF LLaMA-family folder (config.json + safetensors, single or sharded; families in hf/families.ts) to ONNX at `outPath`. */
export async function exportLlamaToOnnx(hfDir: string, outPath: string, opts: ExportOptions): Promise<ExportResult> {
  const config = readHfConfig(hfDir);
  const target = resolve(outPath);
  const dir = dirname(target);
  if (!(await stat(dir).catch(() => undefined))?.isDirectory()) throw new ExportError(`cannot write ${target}: folder ${dir} does not exist`);
  const ckpt = await SafetensorsCheckpoint.open(hfDir);
  try {
    checkCheckpointMatchesConfig(ckpt, config, hfDir);
    const { model, weights: slots } = buildLlamaGraph(config, opts);
    const width = opts.dtype === 'float16' ? 2 : 4;
    const weightBytes = slots.reduce((a, s) => a + (s.tensor.dims ?? []).reduce((x: number, y) => x * Number(y), 1) * width, 0);
    const external = opts.externalData ?? weightBytes > INLINE_LIMIT;
    if (!external && weightBytes > 2 ** 31 - 1 - 64 * 1024 * 1024) {
      throw new ExportError(`${hfDir}: ${weightBytes} bytes of weights do not fit in one protobuf file; export with externalData: true`);
    }
    // onnx-io's one model writer streams the weights: each slot is read, converted and written in bands
    const bySlot = new Map(slots.map((s) => [s.tensor, s]));
    const slotNames = new Set(slots.map((s) => s.hfName));
    let done = 0;
    const saved = await saveModel(model, target, {
      externalData: external ? {} : false,
      transform: (tensor) => {
        const s = bySlot.get(tensor);
        return s ? streamSlot(s, ckpt) : undefined;
      },
      // a weight is converted while it is written: report it once written
      onProgress: (p) => {
        if (slotNames.has(p.tensor)) opts.onProgress?.({ done: ++done, total: slots.length, tensor: p.tensor });
      },
    });
    return { config, onnxPath: target, ...(saved.dataPath ? { dataPath: saved.dataPath } : {}), bytesWritten: saved.bytesWritten };
  } finally {
    await ckpt.close();
  }
}
