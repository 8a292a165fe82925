/**
 * ONNX LLaMA model (dense or pruned by llm-bip, any recognised exporter) -> one GGUF file llama.cpp runs.
 * Every check runs before the first byte is written; tensors then stream one at a time into a temp
 * file that is renamed into place at the end (peak memory: about three copies of the largest tensor
 * in float32, never the model).
 */
import { basename, dirname, join } from 'node:path';
import { existsSync } from 'node:fs';
import { toNumber, type LoadedModel, type NodeProto } from '@llm-bip/onnx-io';
import { GgmlType, str, u32, writeGguf, type GgufMetadata } from '@llm-bip/gguf';
import { readHfConfig, type LlamaConfig } from '../hf/config.js';
import type { ModelSpec } from '../spec.js';
import { modelWeights } from '../weights.js';
import { architectureFor, hyperparameters, llama3RopeFactors, LLAMA_CPP_MAX_LAYERS, type GgufArchitecture, type RopeAndContext } from './architecture.js';
import { GgufExportError } from './errors.js';
import { ggufTensors, type GgufDtype } from './tensors.js';
import { ggufVocab } from './tokenizer.js';

/** llama.cpp's general.file_type (llama_ftype) for each dtype. */
const FILE_TYPE: Record<GgufDtype, number> = { f32: 0, f16: 1, q8_0: 7, bf16: 32 };

export interface ExportGgufOptions {
  dtype?: GgufDtype;
  /** tokenizer.json or its folder (default: beside the model) */
  tokenizer?: string;
  /** general.name (default: the model's folder name) */
  name?: string;
  signal?: AbortSignal;
  onProgress?: (p: { done: number; total: number; tensor: string }) => void;
  onTemp?: (tempPath: string, done: boolean) => void;
}

export interface GgufExportPlan {
  architecture: GgufArchitecture;
  dtype: GgufDtype;
  metadata: GgufMetadata;
  tensors: ReturnType<typeof ggufTensors>;
  tokenizer: string;
  /** matrices written as F16 although Q8_0 was asked (rows not a multiple of 32 values) */
  f16Fallbacks: string[];
}

export interface ExportGgufResult {
  path: string;
  bytes: number;
  architecture: GgufArchitecture;
  dtype: GgufDtype;
  tensors: number;
  tokenizer: string;
  f16Fallbacks: string[];
}

/** Check the model and build what would be written (metadata, tensor list), reading no weights. */
export function planGgufExport(input: { loaded: LoadedModel; spec: ModelSpec }, opts: ExportGgufOptions = {}): GgufExportPlan {
  const { loaded, spec } = input;
  const dtype = opts.dtype ?? 'f16';
  checkSupported(spec, loaded);
  const permuteQk = !ropeInterleaved(loaded, spec);
  const rope = ropeAndContext(loaded);
  const arch = architectureFor(spec);
  const tokenizerPath = opts.tokenizer ?? loaded.dir;
  const vocab = ggufVocab(tokenizerPath, spec.vocabSize);
  const ropeFactors = rope.ropeScaling.kind === 'llama3' ? llama3RopeFactors(spec.layers[0]!.headDim, rope.ropeTheta, rope.ropeScaling) : undefined;
  const metadata: GgufMetadata = [
    ['general.architecture', str(arch)],
    ['general.name', str(opts.name ?? basename(loaded.dir))],
    ['general.file_type', u32(FILE_TYPE[dtype])],
    ...(dtype === 'q8_0' ? ([['general.quantization_version', u32(2)]] as const) : []),
    ...hyperparameters(spec, arch, rope),
    ...vocab.metadata,
  ];
  const tensors = ggufTensors(spec, modelWeights(loaded.model, loaded.dir), { dtype, permuteQk, ...(ropeFactors ? { ropeFactors } : {}) });
  const f16Fallbacks = dtype === 'q8_0' ? tensors.filter((t) => t.shape.length === 2 && t.type === GgmlType.F16).map((t) => t.name) : [];
  return { architecture: arch, dtype, metadata, tensors, tokenizer: vocab.description, f16Fallbacks };
}

export async function exportGguf(input: { loaded: LoadedModel; spec: ModelSpec }, outPath: string, opts: ExportGgufOptions = {}): Promise<ExportGgufResult> {
  const plan = planGgufExport(input, opts);
  const { signal, onProgress, onTemp } = opts;
  const res = await writeGguf(outPath, plan.metadata, plan.tensors, { ...(signal ? { signal } : {}), ...(onProgress ? { onProgress } : {}), ...(onTemp ? { onTemp } : {}) });
  return { path: res.path, bytes: res.bytes, architecture: plan.architecture, dtype: plan.dtype, tensors: plan.tensors.length, tokenizer: plan.tokenizer, f16Fallbacks: plan.f16Fallbacks };
}

function checkSupported(spec: ModelSpec, loaded: LoadedModel): void {
  const where = loaded.path;
  if (spec.numLayers > LLAMA_CPP_MAX_LAYERS) throw new GgufExportError(`${where}: ${spec.numLayers} layers, over llama.cpp's limit of ${LLAMA_CPP_MAX_LAYERS}`);
  const headDim = spec.layers[0]!.headDim;
  for (const l of spec.layers) {
    const at = `${where}: layer ${l.index}`;
    if (l.headDim !== headDim) throw new GgufExportError(`${at} has head_dim ${l.headDim}, layer 0 has ${headDim}: llama.cpp needs one head size for the whole model`);
    if (l.numHeads < 1 || l.numKvHeads < 1 || l.intermediateSize < 1) {
      throw new GgufExportError(`${at} has ${l.numHeads} heads, ${l.numKvHeads} KV heads and ${l.intermediateSize} FFN channels: llama.cpp cannot run a layer with no attention or no FFN left; keep at least one head and one channel per layer`);
    }
    if (l.numHeads % l.numKvHeads !== 0) throw new GgufExportError(`${at} has ${l.numHeads} query heads for ${l.numKvHeads} KV heads: llama.cpp needs a whole number of query heads per KV head`);
    if (l.attention.kind === 'multi-head-attention') throw new GgufExportError(`${at} uses the MultiHeadAttention contrib op, which the GGUF export does not map; export the model with \`llm-bip export\` or torch.onnx`);
  }
  if (spec.lmHead.bias) throw new GgufExportError(`${where}: the lm_head has a bias, which llama.cpp's llama architecture does not have`);
  if (headDim % 2 !== 0) throw new GgufExportError(`${where}: head_dim ${headDim} is odd; rotary embeddings need an even head size`);
}

/**
 * Whether the graph's rotary embedding already rotates adjacent pairs (ggml's layout), so Q/K need no
 * permutation. Decomposed graphs (our exporter, torch.onnx of HF LLaMA) rotate halves (rotate_half);
 * onnxruntime's GroupQueryAttention / RotaryEmbedding say which in their interleaved attribute.
 */
function ropeInterleaved(loaded: LoadedModel, spec: ModelSpec): boolean {
  const layer = spec.layers.find((l) => l.attention.kind === 'group-query-attention');
  if (!layer || layer.attention.kind !== 'group-query-attention') return false;
  const nodes = loaded.model.graph?.node ?? [];
  const gqa = nodes.find((n) => n.name === (layer.attention as { node: string }).node);
  if (!gqa) throw new GgufExportError(`${loaded.path}: attention node "${layer.attention.node}" is not in the graph`);
  const attr = (n: NodeProto, name: string) => n.attribute?.find((a) => a.name === name);
  const int = (n: NodeProto, name: string, dflt: number) => {
    const a = attr(n, name);
    return a ? toNumber(a.i ?? 0) : dflt;
  };
  const float = (n: NodeProto, name: string, dflt: number) => attr(n, name)?.f ?? dflt;
  if (float(gqa, 'softcap', 0) !== 0) throw new GgufExportError(`${loaded.path}: GroupQueryAttention softcap is not part of the LLaMA architecture`);
  if (int(gqa, 'local_window_size', -1) !== -1) throw new GgufExportError(`${loaded.path}: GroupQueryAttention has a sliding window, which llama.cpp's llama architecture does not have`);
  const scale = float(gqa, 'scale', 0);
  if (scale !== 0 && Math.abs(scale - 1 / Math.sqrt(layer.headDim)) > 1e-6) throw new GgufExportError(`${loaded.path}: GroupQueryAttention scale ${scale} is not 1/sqrt(head_dim)`);
  if (int(gqa, 'do_rotary', 0) === 1) return int(gqa, 'rotary_interleaved', 0) === 1;
  const rotary = nodes.filter((n) => n.opType === 'RotaryEmbedding');
  if (!rotary.length) throw new GgufExportError(`${loaded.path}: no rotary embedding found (GroupQueryAttention without do_rotary and no RotaryEmbedding node)`);
  const interleaved = new Set(rotary.map((n) => int(n, 'interleaved', 0)));
  if (interleaved.size !== 1) throw new GgufExportError(`${loaded.path}: RotaryEmbedding nodes disagree on the interleaved attribute`);
  return interleaved.has(1);
}

/** Rope theta, scaling and context length: the exporter's record in the .onnx (kept through pruning), else config.json beside it. */
function ropeAndContext(loaded: LoadedModel): RopeAndContext {
  const record = loaded.model.metadataProps?.find((e) => e.key === 'llm_bip.config')?.value;
  let c: Pick<LlamaConfig, 'ropeTheta' | 'ropeScaling' | 'maxPositionEmbeddings'> | undefined;
  if (record) {
    try {
      const r = JSON.parse(record) as Partial<LlamaConfig>;
      if (typeof r.ropeTheta === 'number' && r.ropeScaling && typeof r.maxPositionEmbeddings === 'number') c = r as LlamaConfig;
    } catch {
      // an unreadable record: fall back to config.json
    }
  }
  if (!c) {
    if (!existsSync(join(loaded.dir, 'config.json'))) {
      throw new GgufExportError(
        `${loaded.path}: the rotary base (rope_theta) and context length are not recorded in the model and there is no config.json beside it; copy the checkpoint's config.json into ${dirname(loaded.path)}`,
      );
    }
    c = readHfConfig(loaded.dir);
  }
  return { ropeTheta: c.ropeTheta, ropeScaling: c.ropeScaling, contextLength: c.maxPositionEmbeddings };
}
