/**
 * Which llama.cpp architecture a (pruned) LLaMA model is written as, and its hyperparameter keys.
 *
 * - `llama` when every layer has the same head count, KV head count and FFN width (dense models and
 *   uniform plans): the architecture every llama.cpp-based runtime knows.
 * - `deci` when the widths differ by layer. llama.cpp's loader reads `feed_forward_length`,
 *   `attention.head_count` and `attention.head_count_kv` as per-layer arrays for every architecture, but
 *   the `llama` architecture then sizes every layer's tensors and graph from layer 0's counts (the load
 *   fails on the first layer that differs). `deci` (Nemotron-NAS, "DeciLM") is the LLaMA block with
 *   per-layer counts read everywhere, the same RMSNorm / SwiGLU / rotary (pairs of adjacent values after
 *   the converter's Q/K row permutation) and the same tensor names. Checked on the llama.cpp that
 *   node-llama-cpp 3.21.1 bundles (src/models/llama.cpp and src/models/deci.cpp there).
 * `attention.key_length` / `value_length` are always written: with per-layer head counts,
 * hidden / heads no longer gives the head size.
 */
import { f32, str, u32, u32s, type GgufMetadata, type GgufValue } from '@llm-bip/gguf';
import type { RopeScaling } from '../hf/config.js';
import type { ModelSpec } from '../spec.js';
import { inverseFrequencies } from '../export/llama-graph.js';

export type GgufArchitecture = 'llama' | 'deci';

/** llama.cpp's LLAMA_MAX_LAYERS */
export const LLAMA_CPP_MAX_LAYERS = 512;

export interface RopeAndContext {
  ropeTheta: number;
  ropeScaling: RopeScaling;
  contextLength: number;
}

export function isUniform(spec: ModelSpec): boolean {
  const first = spec.layers[0]!;
  return spec.layers.every((l) => l.numHeads === first.numHeads && l.numKvHeads === first.numKvHeads && l.intermediateSize === first.intermediateSize);
}

export function architectureFor(spec: ModelSpec): GgufArchitecture {
  return isUniform(spec) ? 'llama' : 'deci';
}

export function hyperparameters(spec: ModelSpec, arch: GgufArchitecture, rope: RopeAndContext): GgufMetadata {
  const headDim = spec.layers[0]!.headDim;
  const perLayer = (f: (l: ModelSpec['layers'][number]) => number): GgufValue => (arch === 'llama' ? u32(f(spec.layers[0]!)) : u32s(spec.layers.map(f)));
  const entries: Array<readonly [string, GgufValue]> = [
    ['block_count', u32(spec.numLayers)],
    ['context_length', u32(rope.contextLength)],
    ['embedding_length', u32(spec.hiddenSize)],
    ['feed_forward_length', perLayer((l) => l.intermediateSize)],
    ['attention.head_count', perLayer((l) => l.numHeads)],
    ['attention.head_count_kv', perLayer((l) => l.numKvHeads)],
    ['attention.key_length', u32(headDim)],
    ['attention.value_length', u32(headDim)],
    ['attention.layer_norm_rms_epsilon', f32(spec.rmsNormEps)],
    ['rope.freq_base', f32(rope.ropeTheta)],
    ['rope.dimension_count', u32(headDim)],
    ['vocab_size', u32(spec.vocabSize)],
  ];
  if (rope.ropeScaling.kind === 'linear') {
    entries.push(['rope.scaling.type', str('linear')], ['rope.scaling.factor', f32(rope.ropeScaling.factor)]);
  }
  return entries.map(([k, v]) => [`${arch}.${k}`, v] as const);
}

/**
 * Llama 3.1 rotary scaling as llama.cpp applies it: a `rope_freqs` vector of per-frequency divisors of
 * the plain frequencies 1 / theta^(2i/d), taken from the inverse frequencies our exporter bakes into
 * its cos/sin caches (transformers' llama3 rope), so both runtimes rotate by the same angles.
 */
export function llama3RopeFactors(headDim: number, ropeTheta: number, ropeScaling: RopeScaling): Float32Array {
  const scaled = inverseFrequencies({ headDim, ropeTheta, ropeScaling });
  return Float32Array.from(scaled, (f, i) => 1 / ropeTheta ** ((2 * i) / headDim) / f);
}
