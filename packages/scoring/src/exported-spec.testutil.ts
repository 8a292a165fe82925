/**
 * Test support: the ModelSpec of a model made by our own exporter, read off its node names, plus tiny
 * model builders and float64 activations from referenceForward. (Tests use recogniseModel where it
 * is available; this keeps the scoring tests independent of the recognisers.)
 */
import { join } from 'node:path';
import {
  buildTinyLlama,
  hfNames,
  loadHfWeightsFloat64,
  loadModel,
  referenceForward,
  type LayerActivations,
  type LayerSpec,
  type LinearRef,
  type LlamaConfig,
  type ModelProto,
  type ModelSpec,
  type TinyLlamaShape,
} from '@llm-bip/onnx-io';

export function exportedSpec(model: ModelProto, config: LlamaConfig, weightType: 'float32' | 'float16'): ModelSpec {
  const nodes = new Map((model.graph?.node ?? []).map((n) => [n.name ?? '', n]));
  const out = (node: string): string => {
    const n = nodes.get(node);
    if (!n?.output?.[0]) throw new Error(`test spec: node ${node} not found`);
    return n.output[0];
  };
  const lin = (node: string, weight: string): LinearRef => ({ node, weight, outAxis: 1 });
  const norm = (prefix: string, weight: string, input: string) => ({ weight, input, output: out(`${prefix}/Mul_weight`), epsilon: config.rmsNormEps });
  let x = out('/model/embed_tokens/Gather');
  const layers: LayerSpec[] = [];
  for (let i = 0; i < config.numLayers; i++) {
    const L = `/model/layers.${i}`;
    const A = `${L}/self_attn`;
    const M = `${L}/mlp`;
    const m = out(`${L}/Add_attention_residual`);
    const layer: LayerSpec = {
      index: i,
      numHeads: config.numHeads,
      numKvHeads: config.numKvHeads,
      headDim: config.headDim,
      intermediateSize: config.intermediateSize,
      input: x,
      attnNorm: norm(`${L}/input_layernorm`, hfNames.attnNorm(i), x),
      q: lin(`${A}/q_proj/MatMul`, hfNames.q(i)),
      k: lin(`${A}/k_proj/MatMul`, hfNames.k(i)),
      v: lin(`${A}/v_proj/MatMul`, hfNames.v(i)),
      o: lin(`${A}/o_proj/MatMul`, hfNames.o(i)),
      attnContext: out(`${A}/Reshape_context`),
      attnOutput: out(`${A}/o_proj/MatMul`),
      residualMid: m,
      ffnNorm: norm(`${L}/post_attention_layernorm`, hfNames.ffnNorm(i), m),
      gate: lin(`${M}/gate_proj/MatMul`, hfNames.gate(i)),
      up: lin(`${M}/up_proj/MatMul`, hfNames.up(i)),
      down: lin(`${M}/down_proj/MatMul`, hfNames.down(i)),
      gateOut: out(`${M}/gate_proj/MatMul`),
      upOut: out(`${M}/up_proj/MatMul`),
      ffnAct: out(`${M}/Mul_gate_up`),
      ffnOutput: out(`${M}/down_proj/MatMul`),
      output: out(`${L}/Add_mlp_residual`),
      attention: { kind: 'decomposed' },
      shapeUses: [],
      attributeUses: [],
    };
    layers.push(layer);
    x = layer.output as string;
  }
  return {
    recogniser: 'llm-bip-export',
    flavour: 'test',
    architecture: 'llama',
    hiddenSize: config.hiddenSize,
    vocabSize: config.vocabSize,
    numLayers: config.numLayers,
    rmsNormEps: config.rmsNormEps,
    weightType,
    logitsType: 'float32',
    inputs: { inputIds: 'input_ids', attentionMask: 'attention_mask', positionIds: 'position_ids' },
    logits: 'logits',
    embedding: { weight: hfNames.embed },
    finalNorm: { weight: hfNames.finalNorm, input: x, output: x, epsilon: config.rmsNormEps },
    lmHead: { node: '/lm_head/MatMul', weight: hfNames.lmHead, outAxis: 1 },
    tiedEmbeddings: config.tieWordEmbeddings,
    kvCache: false,
    layers,
  };
}

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
  const spec = exportedSpec(loaded.model, t.config, dtype);
  return { name, onnxPath: t.onnxPath, spec: { ...spec, kvCache }, config: t.config, weights };
}

/** Every layer's activations of the float64 reference forward. */
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
