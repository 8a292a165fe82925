/**
 * Tiny random LLaMA models for tests: a HF folder (config.json + model.safetensors) with seeded
 * weights, and its ONNX export made by our exporter.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FAMILIES, type Family, normaliseHfConfig, toHfConfigJson, type LlamaConfig, type RopeScaling, writeSafetensors, type SafetensorsTensorInput, llamaWeightShapes, exportLlamaToOnnx, type ExportDtype } from '@llm-bip/model';
import { float32ToBfloat16, float32ToFloat16 } from '@llm-bip/onnx-io';
import { mulberry32 } from '@llm-bip/scoring';

export interface TinyLlamaShape {
  seed: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  intermediateSize: number;
  vocabSize: number;
  headDim?: number;
  tieEmbeddings?: boolean;
  ropeTheta?: number;
  ropeScaling?: RopeScaling;
  rmsNormEps?: number;
  /** HF model_type (default llama): its traits (biases, q/k norms, fused checkpoint, Gemma norms and GeGLU) come from FAMILIES */
  family?: Family;
  /** Mistral / Phi-3 sliding window */
  slidingWindow?: number;
}

export interface TinyLlamaOutput {
  /** where to write: `<dir>/hf/` and `<dir>/model.onnx` */
  dir: string;
  /** storage type of the safetensors and of the ONNX weights */
  dtype: ExportDtype;
  kvCache: boolean;
  externalData?: boolean;
  /** checkpoint storage type (default: the export type) */
  storage?: TinyStorage;
  /** split model.safetensors into this many shards with model.safetensors.index.json (default 1) */
  shards?: number;
}

export type TinyStorage = 'float32' | 'float16' | 'bfloat16';

export interface TinyLlama {
  hfDir: string;
  onnxPath: string;
  config: LlamaConfig;
}


function normals(next: () => number, n: number, mean: number, std: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u = 1 - next();
    const v = next();
    const r = Math.sqrt(-2 * Math.log(u));
    out[i] = mean + std * r * Math.cos(2 * Math.PI * v);
    if (i + 1 < n) out[i + 1] = mean + std * r * Math.sin(2 * Math.PI * v);
  }
  return out;
}

/** The family-dependent LlamaConfig fields (normaliseHfConfig checks them again). */
function familyFields(shape: TinyLlamaShape): Pick<LlamaConfig, 'qkvBias' | 'qkNorm' | 'fusedCheckpoint' | 'normOffset' | 'embeddingScale' | 'hiddenAct' | 'slidingWindow'> {
  const t = FAMILIES[shape.family ?? 'llama'];
  return {
    qkvBias: t.qkvBias === 'always',
    qkNorm: t.qkNorm,
    fusedCheckpoint: t.fusedCheckpoint,
    normOffset: t.normOffset,
    embeddingScale: t.scaleEmbeddings ? Math.sqrt(shape.hiddenSize) : 1,
    hiddenAct: t.family === 'gemma' ? 'gelu_tanh' : 'silu',
    slidingWindow: t.slidingWindow === 'all-layers' ? shape.slidingWindow : undefined,
  };
}

/** Write the HF folder of a seeded random LLaMA-family model; returns its normalised config. */
export async function writeTinyHfCheckpoint(shape: TinyLlamaShape, hfDir: string, dtype: TinyStorage, shards = 1): Promise<LlamaConfig> {
  const config = normaliseHfConfig(
    toHfConfigJson({
      modelType: shape.family ?? 'llama',
      hiddenSize: shape.hiddenSize,
      intermediateSize: shape.intermediateSize,
      numLayers: shape.numLayers,
      numHeads: shape.numHeads,
      numKvHeads: shape.numKvHeads,
      headDim: shape.headDim ?? shape.hiddenSize / shape.numHeads,
      vocabSize: shape.vocabSize,
      rmsNormEps: shape.rmsNormEps ?? 1e-5,
      ropeTheta: shape.ropeTheta ?? 10000,
      ropeScaling: shape.ropeScaling ?? { kind: 'default' },
      maxPositionEmbeddings: 2048,
      tieWordEmbeddings: shape.tieEmbeddings ?? false,
      torchDtype: dtype,
      ...familyFields(shape),
    }),
    'tiny config',
  );
  const next = mulberry32(shape.seed);
  const tensors: SafetensorsTensorInput[] = [];
  for (const w of llamaWeightShapes(config)) {
    const n = w.shape.reduce((a, b) => a * b, 1);
    // norm gains near 1 (but not 1, so a missing gamma shows; Gemma stores gain - 1), biases near 0, embeddings unit scale, Linear 1/sqrt(fan_in): logits of order 1
    const values =
      w.name.endsWith('.bias') ? normals(next, n, 0, 0.1) : w.shape.length === 1 ? normals(next, n, 1 - config.normOffset, 0.1) : w.name === 'model.embed_tokens.weight' ? normals(next, n, 0, config.tieWordEmbeddings ? 1 / Math.sqrt(config.hiddenSize) : 1) : normals(next, n, 0, 1 / Math.sqrt(w.shape[1]!));
    const data = dtype === 'float16' ? float32ToFloat16(values) : dtype === 'bfloat16' ? float32ToBfloat16(values) : values;
    const st = dtype === 'float16' ? 'F16' : dtype === 'bfloat16' ? 'BF16' : 'F32';
    tensors.push({ name: w.name, dtype: st, shape: w.shape, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) });
  }
  await mkdir(hfDir, { recursive: true });
  await writeFile(join(hfDir, 'config.json'), JSON.stringify(toHfConfigJson(config), null, 2));
  if (shards <= 1) {
    await writeSafetensors(join(hfDir, 'model.safetensors'), tensors);
    return config;
  }
  // HF's shard naming; tensors dealt out in order
  const per = Math.ceil(tensors.length / shards);
  const weightMap: Record<string, string> = {};
  for (let s = 0; s < shards; s++) {
    const file = `model-${String(s + 1).padStart(5, '0')}-of-${String(shards).padStart(5, '0')}.safetensors`;
    const part = tensors.slice(s * per, (s + 1) * per);
    for (const t of part) weightMap[t.name] = file;
    await writeSafetensors(join(hfDir, file), part);
  }
  const totalSize = tensors.reduce((a, t) => a + t.data.byteLength, 0);
  await writeFile(join(hfDir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: totalSize }, weight_map: weightMap }, null, 2));
  return config;
}

/** A seeded random LLaMA as a HF folder plus its ONNX export (fast: well under a second at hidden 64). */
export async function buildTinyLlama(shape: TinyLlamaShape, out: TinyLlamaOutput): Promise<TinyLlama> {
  const hfDir = join(out.dir, 'hf');
  const config = await writeTinyHfCheckpoint(shape, hfDir, out.storage ?? out.dtype, out.shards ?? 1);
  const onnxPath = join(out.dir, 'model.onnx');
  await mkdir(out.dir, { recursive: true });
  await exportLlamaToOnnx(hfDir, onnxPath, { dtype: out.dtype, kvCache: out.kvCache, ...(out.externalData !== undefined ? { externalData: out.externalData } : {}) });
  return { hfDir, onnxPath, config };
}
