/**
 * The tensor names and shapes of a HF LLaMA-family checkpoint (PyTorch layout: Linear weights are
 * [out, in]), per family (Qwen biases and q/k norms, Phi-3's fused projections), and a
 * whole-checkpoint float64 loader for tiny models in tests.
 */
import { readHfConfig, HfCheckpointError, type LlamaConfig } from './config.js';
import { SafetensorsCheckpoint } from './safetensors.js';

export interface HfWeightShape {
  name: string;
  shape: number[];
}

export const hfNames = {
  embed: 'model.embed_tokens.weight',
  finalNorm: 'model.norm.weight',
  lmHead: 'lm_head.weight',
  attnNorm: (i: number) => `model.layers.${i}.input_layernorm.weight`,
  ffnNorm: (i: number) => `model.layers.${i}.post_attention_layernorm.weight`,
  q: (i: number) => `model.layers.${i}.self_attn.q_proj.weight`,
  k: (i: number) => `model.layers.${i}.self_attn.k_proj.weight`,
  v: (i: number) => `model.layers.${i}.self_attn.v_proj.weight`,
  o: (i: number) => `model.layers.${i}.self_attn.o_proj.weight`,
  gate: (i: number) => `model.layers.${i}.mlp.gate_proj.weight`,
  up: (i: number) => `model.layers.${i}.mlp.up_proj.weight`,
  down: (i: number) => `model.layers.${i}.mlp.down_proj.weight`,
  /** q/k/v biases (Qwen2, Qwen3 with attention_bias) */
  qBias: (i: number) => `model.layers.${i}.self_attn.q_proj.bias`,
  kBias: (i: number) => `model.layers.${i}.self_attn.k_proj.bias`,
  vBias: (i: number) => `model.layers.${i}.self_attn.v_proj.bias`,
  /** per-head RMSNorm gains over head_dim (Qwen3) */
  qNorm: (i: number) => `model.layers.${i}.self_attn.q_norm.weight`,
  kNorm: (i: number) => `model.layers.${i}.self_attn.k_norm.weight`,
  /** Phi-3's fused projections: rows [q; k; v] and [gate; up] */
  qkv: (i: number) => `model.layers.${i}.self_attn.qkv_proj.weight`,
  gateUp: (i: number) => `model.layers.${i}.mlp.gate_up_proj.weight`,
};

/** Every tensor the model needs, in checkpoint order, with its HF shape. lm_head is absent when tied. */
export function llamaWeightShapes(c: LlamaConfig): HfWeightShape[] {
  const h = c.hiddenSize;
  const qw = c.numHeads * c.headDim;
  const kvw = c.numKvHeads * c.headDim;
  const out: HfWeightShape[] = [{ name: hfNames.embed, shape: [c.vocabSize, h] }];
  const I = c.intermediateSize;
  for (let i = 0; i < c.numLayers; i++) {
    out.push({ name: hfNames.attnNorm(i), shape: [h] });
    if (c.fusedCheckpoint) out.push({ name: hfNames.qkv(i), shape: [qw + 2 * kvw, h] });
    else out.push({ name: hfNames.q(i), shape: [qw, h] }, { name: hfNames.k(i), shape: [kvw, h] }, { name: hfNames.v(i), shape: [kvw, h] });
    if (c.qkvBias) out.push({ name: hfNames.qBias(i), shape: [qw] }, { name: hfNames.kBias(i), shape: [kvw] }, { name: hfNames.vBias(i), shape: [kvw] });
    if (c.qkNorm) out.push({ name: hfNames.qNorm(i), shape: [c.headDim] }, { name: hfNames.kNorm(i), shape: [c.headDim] });
    out.push({ name: hfNames.o(i), shape: [h, qw] }, { name: hfNames.ffnNorm(i), shape: [h] });
    if (c.fusedCheckpoint) out.push({ name: hfNames.gateUp(i), shape: [2 * I, h] });
    else out.push({ name: hfNames.gate(i), shape: [I, h] }, { name: hfNames.up(i), shape: [I, h] });
    out.push({ name: hfNames.down(i), shape: [h, I] });
  }
  out.push({ name: hfNames.finalNorm, shape: [h] });
  if (!c.tieWordEmbeddings) out.push({ name: hfNames.lmHead, shape: [c.vocabSize, h] });
  return out;
}

/** Check a checkpoint holds every tensor the config implies, with the right shapes (before any long export). */
export function checkCheckpointMatchesConfig(ckpt: SafetensorsCheckpoint, c: LlamaConfig, dir: string): void {
  // a config with fewer layers than the weights would silently drop the rest
  const layers = [...ckpt.entries.keys()].map((n) => /^model\.layers\.(\d+)\./.exec(n)?.[1]).filter((i) => i !== undefined).map(Number);
  const top = layers.reduce((a, b) => Math.max(a, b), -1);
  if (top >= c.numLayers) {
    throw new HfCheckpointError(
      `${dir}: the safetensors files hold layer ${top} but config.json says num_hidden_layers = ${c.numLayers}: config.json does not match the weights (fix num_hidden_layers to ${top + 1})`,
    );
  }
  for (const w of llamaWeightShapes(c)) {
    if (!ckpt.has(w.name)) {
      throw new HfCheckpointError(`${dir}: tensor "${w.name}" is missing from the safetensors files (does config.json match the weights?)`);
    }
    const e = ckpt.entry(w.name);
    if (e.shape.length !== w.shape.length || e.shape.some((d, i) => d !== w.shape[i])) {
      throw new HfCheckpointError(`${dir}: tensor "${w.name}" has shape [${e.shape}] but config.json implies [${w.shape}]`);
    }
  }
}

/** All weights of a (tiny) checkpoint as float64, HF layout, keyed by HF name. Tests only: loads everything. */
export async function loadHfWeightsFloat64(hfDir: string): Promise<{ config: LlamaConfig; weights: Map<string, Float64Array> }> {
  const config = readHfConfig(hfDir);
  const ckpt = await SafetensorsCheckpoint.open(hfDir);
  try {
    checkCheckpointMatchesConfig(ckpt, config, hfDir);
    const weights = new Map<string, Float64Array>();
    for (const w of llamaWeightShapes(config)) weights.set(w.name, Float64Array.from(await ckpt.readFloat32(w.name)));
    return { config, weights };
  } finally {
    await ckpt.close();
  }
}
