/** Test support: tiny random models with their recognised spec, and float64 activations from referenceForward. */
import { join } from 'node:path';
import { loadModel } from '@llm-bip/onnx-io';
import { loadHfWeightsFloat64, recogniseModel, type LlamaConfig, type ModelSpec } from '@llm-bip/model';
import { buildTinyLlama, referenceForward, type LayerActivations, type TinyLlamaShape } from '@llm-bip/testing';

export interface TinyCase {
  name: string;
  onnxPath: string;
  spec: ModelSpec;
  config: LlamaConfig;
  /** HF weights in float64 (upcast from the stored type) */
  weights: Map<string, Float64Array>;
}

export async function tinyCase(dir: string, name: string, shape: TinyLlamaShape, dtype: 'float32' | 'float16' = 'float32', kvCache = false): Promise<TinyCase> {
  const t = await buildTinyLlama(shape, { dir: join(dir, name), dtype, kvCache });
  const loaded = await loadModel(t.onnxPath);
  const { weights } = await loadHfWeightsFloat64(t.hfDir);
  return { name, onnxPath: t.onnxPath, spec: recogniseModel(loaded.model), config: t.config, weights };
}

/** Every layer's activations of the float64 reference forward. */
/** The probe tests' three models: MHA, GQA with KV cache, and fp16 (2 layers each). */
export async function probeTinyCases(dir: string): Promise<TinyCase[]> {
  return [
    await tinyCase(dir, 'mha', { seed: 1, hiddenSize: 32, numLayers: 2, numHeads: 4, numKvHeads: 4, intermediateSize: 48, vocabSize: 64 }),
    await tinyCase(dir, 'gqa-kv', { seed: 2, hiddenSize: 32, numLayers: 2, numHeads: 4, numKvHeads: 2, intermediateSize: 40, vocabSize: 64 }, 'float32', true),
    await tinyCase(dir, 'fp16', { seed: 3, hiddenSize: 32, numLayers: 2, numHeads: 4, numKvHeads: 2, intermediateSize: 40, vocabSize: 64 }, 'float16'),
  ];
}

export function captureAll(c: { config: LlamaConfig; weights: Map<string, Float64Array> }, rows: number[][]): LayerActivations[] {
  const acts: LayerActivations[] = [];
  referenceForward(c.config, c.weights, rows, { capture: (l, a) => (acts[l] = a) });
  return acts;
}

export function tokenRows(n: number, len: number, vocab: number, seed: number): number[][] {
  let a = seed >>> 0;
  const next = () => {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    return a / 4294967296;
  };
  return Array.from({ length: n }, () => Array.from({ length: len }, () => Math.floor(next() * vocab)));
}
