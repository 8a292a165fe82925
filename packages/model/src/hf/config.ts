/**
 * config.json of a HF LLaMA-family checkpoint (Llama, Mistral, Qwen2, Qwen3, Phi-3, Gemma: see
 * families.ts), normalised once into one vocabulary (LlamaConfig), whichever transformers version
 * wrote it (4.x: top-level `rope_theta`, `torch_dtype`, `rope_scaling`; 5.x: `rope_parameters`, `dtype`).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { categorisedError, INPUT_LIMITS, readModelMetadata } from '@llm-bip/onnx-io';
import { activationOf, FAMILIES, familyOf, MOE_KEYS, REFUSED_MODEL_TYPES, type Family, type MlpActivation } from './families.js';

export class HfCheckpointError extends categorisedError('HfCheckpointError', 'input') {}

/** Rotary embedding variants whose inverse frequencies are a constant we can compute ahead of time. */
export type RopeScaling =
  | { kind: 'default' }
  | { kind: 'linear'; factor: number }
  /** Llama 3.1: long wavelengths divided by factor, short ones kept, a smooth blend between */
  | { kind: 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositionEmbeddings: number };

export interface LlamaConfig {
  /** the HF model_type, one of the families llm-bip exports */
  modelType: Family;
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  vocabSize: number;
  rmsNormEps: number;
  ropeTheta: number;
  ropeScaling: RopeScaling;
  maxPositionEmbeddings: number;
  tieWordEmbeddings: boolean;
  /** storage type the checkpoint declares (informational; safetensors headers are authoritative) */
  torchDtype: 'float32' | 'float16' | 'bfloat16' | undefined;
  /** q/k/v projections have biases (Qwen2; Qwen3 with attention_bias) */
  qkvBias: boolean;
  /** q_norm / k_norm over head_dim before RoPE (Qwen3) */
  qkNorm: boolean;
  /** the checkpoint fuses qkv_proj and gate_up_proj (Phi-3) */
  fusedCheckpoint: boolean;
  /** RMSNorm gain is (normOffset + w) (Gemma: 1) */
  normOffset: 0 | 1;
  /** embeddings are multiplied by this (Gemma: sqrt(hidden_size); others 1) */
  embeddingScale: number;
  /** φ in s = φ(gate) ⊙ up */
  hiddenAct: MlpActivation;
  /** keys further back than this many positions are masked out (Mistral, Phi-3); undefined: full causal attention */
  slidingWindow: number | undefined;
}

type Json = Record<string, unknown>;

/** Limits of config integers other than widths (INPUT_LIMITS.width). */
const CONFIG_LIMITS: Record<string, number> = {
  num_hidden_layers: INPUT_LIMITS.layers,
  vocab_size: INPUT_LIMITS.vocab,
  max_position_embeddings: INPUT_LIMITS.contextLength,
};

/** Read and normalise `<dir>/config.json`. */
export function readHfConfig(dir: string): LlamaConfig {
  const path = join(dir, 'config.json');
  if (!existsSync(path)) {
    throw new HfCheckpointError(`${path} not found: point at a Hugging Face model folder (config.json + *.safetensors).`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new HfCheckpointError(`${path} is not valid JSON (${(e as Error).message}).`);
  }
  return normaliseHfConfig(raw, path);
}

/** Normalise a parsed config.json object (exported for tests and for configs held in memory). */
export function normaliseHfConfig(raw: unknown, source = 'config.json'): LlamaConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new HfCheckpointError(`${source}: expected a JSON object`);
  const c = raw as Json;
  const modelType = c.model_type;
  const refused = typeof modelType === 'string' && Object.hasOwn(REFUSED_MODEL_TYPES, modelType) ? REFUSED_MODEL_TYPES[modelType] : undefined;
  if (refused) throw new HfCheckpointError(`${source}: model_type "${String(modelType)}" is not supported: it has ${refused}.`);
  const moe = MOE_KEYS.find((k) => typeof c[k] === 'number' && (c[k] as number) > 0);
  if (moe) {
    throw new HfCheckpointError(`${source}: ${moe} = ${String(c[moe])} marks a mixture-of-experts model; llm-bip prunes dense MLPs (gate/up/down) only, and has no expert or router pruning.`);
  }
  const traits = familyOf(modelType);
  if (!traits) {
    throw new HfCheckpointError(
      `${source}: model_type is ${JSON.stringify(modelType)}; supported: ${Object.keys(FAMILIES).map((f) => `"${f}"`).join(', ')} (LLaMA-family decoders).`,
    );
  }
  const int = (key: string, fallback?: number): number => {
    const v = c[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
      throw new HfCheckpointError(`${source}: "${key}" must be a positive integer, got ${JSON.stringify(c[key])}`);
    }
    // checked before anything is sized from it: 1e9 layers would exhaust memory, not fail clearly
    const limit = CONFIG_LIMITS[key] ?? INPUT_LIMITS.width;
    if (v > limit) throw new HfCheckpointError(`${source}: "${key}" is ${v}, over the limit of ${limit}; the config is corrupt or not a LLaMA model`);
    return v;
  };
  const num = (key: string, v: unknown): number => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new HfCheckpointError(`${source}: "${key}" must be a positive number, got ${JSON.stringify(v)}`);
    return v;
  };

  const hiddenSize = int('hidden_size');
  const numHeads = int('num_attention_heads');
  const numKvHeads = int('num_key_value_heads', numHeads);
  if (numHeads % numKvHeads !== 0) {
    throw new HfCheckpointError(`${source}: num_attention_heads (${numHeads}) is not a multiple of num_key_value_heads (${numKvHeads})`);
  }
  if (c.head_dim === undefined || c.head_dim === null) {
    if (hiddenSize % numHeads !== 0) throw new HfCheckpointError(`${source}: hidden_size ${hiddenSize} is not divisible by ${numHeads} heads and head_dim is not given`);
  }
  const headDim = int('head_dim', hiddenSize / numHeads);
  if (headDim % 2 !== 0) throw new HfCheckpointError(`${source}: head_dim ${headDim} must be even for rotary embeddings`);

  const actName = c[traits.activation.key] ?? traits.activation.default;
  const hiddenAct = activationOf(actName);
  if (!hiddenAct) {
    throw new HfCheckpointError(`${source}: ${traits.activation.key} "${String(actName)}" is not supported (supported: silu, gelu_pytorch_tanh / gelu_new)`);
  }
  if (c.mlp_bias === true) throw new HfCheckpointError(`${source}: mlp_bias=true is not supported (the MLP projections of these families have no bias)`);
  // LLaMA's attention_bias also puts a bias on o_proj, which surgery would have to keep whole; Qwen3's is q/k/v only
  if (c.attention_bias === true && traits.qkvBias === 'never') {
    throw new HfCheckpointError(`${source}: attention_bias=true is not supported for model_type "${traits.family}" (a bias on o_proj too); q/k/v biases are supported for qwen2 and qwen3`);
  }
  const qkvBias = traits.qkvBias === 'always' || (traits.qkvBias === 'config' && c.attention_bias === true);
  const slidingWindow = slidingWindowOf(c, traits.slidingWindow, source);
  // transformers 5: rope_parameters { rope_type, rope_theta, factor, ... }; 4.x: rope_theta + rope_scaling { type|rope_type, factor }.
  const params = (c.rope_parameters ?? null) as Json | null;
  const scaling = (c.rope_scaling ?? null) as Json | null;
  const ropeTheta = num('rope_theta', params?.rope_theta ?? c.rope_theta ?? 10000);
  const ropeScaling = normaliseRopeScaling(params ?? scaling, c, source);
  const partial = params?.partial_rotary_factor ?? c.partial_rotary_factor;
  if (partial !== undefined && partial !== null && partial !== 1) {
    throw new HfCheckpointError(`${source}: partial_rotary_factor ${String(partial)} is not supported (LLaMA rotates the whole head)`);
  }

  const eps = c.rms_norm_eps ?? 1e-6;
  const dtypeRaw = c.dtype ?? c.torch_dtype;
  const torchDtype = dtypeRaw === 'float32' || dtypeRaw === 'float16' || dtypeRaw === 'bfloat16' ? dtypeRaw : undefined;

  return {
    modelType: traits.family,
    hiddenSize,
    intermediateSize: int('intermediate_size'),
    numLayers: int('num_hidden_layers'),
    numHeads,
    numKvHeads,
    headDim,
    vocabSize: int('vocab_size'),
    rmsNormEps: num('rms_norm_eps', eps),
    ropeTheta,
    ropeScaling,
    maxPositionEmbeddings: int('max_position_embeddings', 2048),
    // transformers' default is tied for Gemma (GemmaConfig tie_word_embeddings=True), untied for the others
    tieWordEmbeddings: c.tie_word_embeddings === undefined ? traits.family === 'gemma' : c.tie_word_embeddings === true,
    torchDtype,
    qkvBias,
    qkNorm: traits.qkNorm,
    fusedCheckpoint: traits.fusedCheckpoint,
    normOffset: traits.normOffset,
    embeddingScale: traits.scaleEmbeddings ? Math.sqrt(hiddenSize) : 1,
    hiddenAct,
    slidingWindow,
  };
}

/** sliding_window as the family uses it: every layer (Mistral, Phi-3), or refused where only some layers slide (Qwen). */
function slidingWindowOf(c: Json, kind: 'all-layers' | 'refused' | 'none', source: string): number | undefined {
  const w = c.sliding_window;
  if (w === undefined || w === null || kind === 'none') return undefined;
  if (kind === 'refused') {
    if (c.use_sliding_window !== true) return undefined;
    throw new HfCheckpointError(
      `${source}: use_sliding_window=true is not supported (Qwen slides only layers from max_window_layers on); export a config with use_sliding_window=false, which is what the released Qwen2/Qwen3 checkpoints use`,
    );
  }
  if (typeof w !== 'number' || !Number.isInteger(w) || w <= 0) throw new HfCheckpointError(`${source}: "sliding_window" must be a positive integer or null, got ${JSON.stringify(w)}`);
  return w;
}

function normaliseRopeScaling(r: Json | null, c: Json, source: string): RopeScaling {
  if (r === null || typeof r !== 'object') return { kind: 'default' };
  const kind = (r.rope_type ?? r.type ?? 'default') as unknown;
  const positive = (key: string, v: unknown): number => {
    if (typeof v !== 'number' || !(v > 0)) throw new HfCheckpointError(`${source}: ${String(kind)} rope scaling needs a positive "${key}", got ${JSON.stringify(v)}`);
    return v;
  };
  if (kind === 'default') return { kind: 'default' };
  if (kind === 'linear') return { kind: 'linear', factor: positive('factor', r.factor) };
  if (kind === 'llama3') {
    const lowFreqFactor = positive('low_freq_factor', r.low_freq_factor);
    const highFreqFactor = positive('high_freq_factor', r.high_freq_factor);
    if (!(highFreqFactor > lowFreqFactor)) throw new HfCheckpointError(`${source}: llama3 rope scaling needs high_freq_factor > low_freq_factor`);
    return {
      kind: 'llama3',
      factor: positive('factor', r.factor),
      lowFreqFactor,
      highFreqFactor,
      originalMaxPositionEmbeddings: positive('original_max_position_embeddings', r.original_max_position_embeddings ?? c.original_max_position_embeddings),
    };
  }
  throw new HfCheckpointError(
    `${source}: rope scaling type ${JSON.stringify(kind)} is not supported (supported: default, linear, llama3). ` +
      `Export a checkpoint without it, or extend hf/config.ts and the exporter's inverse frequencies.`,
  );
}

/** The context length (max_position_embeddings) and the file that says so; undefined when none is found. */
export interface ContextLength {
  tokens: number;
  source: string;
}

/**
 * The model's context length: from the exporter's record in an .onnx file's metadata
 * (`llm_bip.config`, kept through pruning), else from config.json (HF) or genai_config.json
 * (onnxruntime-genai) in `model` (a checkpoint folder) or beside it (an .onnx file). Unreadable
 * files count as absent: their own readers report them.
 */
export function contextLengthOf(model: string): ContextLength | undefined {
  const isDir = existsSync(model) && statSync(model).isDirectory();
  if (!isDir && existsSync(model)) {
    try {
      const recorded = (JSON.parse(readModelMetadata(model).get('llm_bip.config') ?? '{}') as Partial<LlamaConfig>).maxPositionEmbeddings;
      if (typeof recorded === 'number' && Number.isSafeInteger(recorded) && recorded > 0) {
        return { tokens: recorded, source: `${model} (exported with max_position_embeddings ${recorded})` };
      }
    } catch {
      // no usable record: fall back to the config files
    }
  }
  const dir = isDir ? model : dirname(model);
  for (const [file, pick] of [
    ['config.json', (j: Json) => j.max_position_embeddings],
    ['genai_config.json', (j: Json) => (j.model as Json | undefined)?.context_length],
  ] as const) {
    const path = join(dir, file);
    if (!existsSync(path)) continue;
    try {
      const v = pick(JSON.parse(readFileSync(path, 'utf8')) as Json);
      if (typeof v === 'number' && Number.isSafeInteger(v) && v > 0) return { tokens: v, source: `${path} (${file === 'config.json' ? 'max_position_embeddings' : 'model.context_length'})` };
    } catch {
      continue;
    }
  }
  return undefined;
}

/** Widths that size a model's activations, as far as its records say, and the file that says so. */
export interface ModelWidths {
  hiddenSize?: number;
  intermediateSize?: number;
  numHeads?: number;
  source: string;
}

/**
 * Hidden, MLP and head counts of a model (sizing evaluation batches): the exporter's record in an
 * .onnx file's metadata (the dense model's widths, an upper bound after pruning), else config.json
 * in or beside `model`. Undefined when neither is readable.
 */
export function modelWidthsOf(model: string): ModelWidths | undefined {
  const isDir = existsSync(model) && statSync(model).isDirectory();
  const positive = (v: unknown) => (typeof v === 'number' && Number.isSafeInteger(v) && v > 0 ? v : undefined);
  const widths = (hidden: unknown, intermediate: unknown, heads: unknown, source: string): ModelWidths | undefined => {
    const w = { hiddenSize: positive(hidden), intermediateSize: positive(intermediate), numHeads: positive(heads) };
    if (w.hiddenSize === undefined && w.intermediateSize === undefined && w.numHeads === undefined) return undefined;
    return { ...Object.fromEntries(Object.entries(w).filter(([, v]) => v !== undefined)), source };
  };
  if (!isDir && existsSync(model)) {
    try {
      const c = JSON.parse(readModelMetadata(model).get('llm_bip.config') ?? '{}') as Partial<LlamaConfig>;
      const found = widths(c.hiddenSize, c.intermediateSize, c.numHeads, `${model} (export record)`);
      if (found) return found;
    } catch {
      // no usable record: fall back to config.json
    }
  }
  const path = join(isDir ? model : dirname(model), 'config.json');
  if (!existsSync(path)) return undefined;
  try {
    const j = JSON.parse(readFileSync(path, 'utf8')) as Json;
    return widths(j.hidden_size, j.intermediate_size, j.num_attention_heads, path);
  } catch {
    return undefined;
  }
}

/**
 * Refuse a sequence longer than the model's context: positions it was never trained on give
 * meaningless scores or perplexities, and a huge one exhausts memory inside ONNX Runtime.
 */
export function checkWithinContext(option: string, tokens: number, context: ContextLength | undefined): void {
  const limit = context?.tokens ?? INPUT_LIMITS.contextLength;
  if (tokens > limit) {
    throw new ContextLengthError(
      context
        ? `${option} asks for ${tokens} tokens, beyond the model's context of ${context.tokens} (${context.source}): use at most ${context.tokens}`
        : `${option} asks for ${tokens} tokens, over the limit of ${limit}: use a shorter length`,
    );
  }
}

/** A sequence length option beyond the model's context (a usage error: exit 2). */
export class ContextLengthError extends categorisedError('ContextLengthError', 'usage') {}

/** The config.json a transformers 5 LlamaForCausalLM checkpoint would carry for `config` (used by the tiny-model builder). */
export function toHfConfigJson(config: LlamaConfig): Record<string, unknown> {
  const traits = FAMILIES[config.modelType];
  return {
    architectures: [traits.architecture],
    model_type: config.modelType,
    hidden_size: config.hiddenSize,
    intermediate_size: config.intermediateSize,
    num_hidden_layers: config.numLayers,
    num_attention_heads: config.numHeads,
    num_key_value_heads: config.numKvHeads,
    head_dim: config.headDim,
    vocab_size: config.vocabSize,
    rms_norm_eps: config.rmsNormEps,
    rope_parameters: ropeParametersJson(config),
    max_position_embeddings: config.maxPositionEmbeddings,
    tie_word_embeddings: config.tieWordEmbeddings,
    [traits.activation.key]: config.hiddenAct === 'silu' ? 'silu' : 'gelu_pytorch_tanh',
    ...(traits.qkvBias === 'always' ? {} : { attention_bias: config.qkvBias }),
    mlp_bias: false,
    sliding_window: config.slidingWindow ?? null,
    ...(traits.slidingWindow === 'refused' ? { use_sliding_window: false } : {}),
    dtype: config.torchDtype ?? 'float32',
  };
}

function ropeParametersJson(config: LlamaConfig): Record<string, unknown> {
  const r = config.ropeScaling;
  switch (r.kind) {
    case 'default':
      return { rope_type: 'default', rope_theta: config.ropeTheta };
    case 'linear':
      return { rope_type: 'linear', rope_theta: config.ropeTheta, factor: r.factor };
    case 'llama3':
      return {
        rope_type: 'llama3',
        rope_theta: config.ropeTheta,
        factor: r.factor,
        low_freq_factor: r.lowFreqFactor,
        high_freq_factor: r.highFreqFactor,
        original_max_position_embeddings: r.originalMaxPositionEmbeddings,
      };
  }
}
