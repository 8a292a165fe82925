/**
 * A float64 forward pass of a HF LLaMA-family causal LM (Llama, Mistral, Qwen2/3, Phi-3, Gemma) in
 * plain TypeScript, written from the models' equations, not from the exporter: the independent reference that ONNX exports, scoring and
 * surgery are checked against in tests. Slow by design (plain loops); tiny models only.
 */
import type { LlamaConfig } from '@llm-bip/model';

/** Per-layer activations, each [batch, seq, width] row-major. q/k/v are the projection outputs before RoPE. */
export interface LayerActivations {
  /** block input (residual stream) */
  x: Float64Array;
  attnNormOut: Float64Array;
  q: Float64Array;
  k: Float64Array;
  v: Float64Array;
  /** attention context entering o_proj, head-major [.., heads*headDim] */
  z: Float64Array;
  /** o_proj output */
  attnOut: Float64Array;
  /** x + attnOut */
  m: Float64Array;
  ffnNormOut: Float64Array;
  /** gate_proj output (pre-activation) */
  g: Float64Array;
  /** up_proj output */
  u: Float64Array;
  /** silu(g) * u, entering down_proj */
  s: Float64Array;
  /** down_proj output */
  ffnOut: Float64Array;
  /** block output m + ffnOut */
  y: Float64Array;
}

export interface ReferenceOptions {
  /** [batch][total] of 0/1; default all ones */
  attentionMask?: number[][];
  /** [batch][seq]; default 0..seq-1 */
  positionIds?: number[][];
  capture?: (layer: number, acts: LayerActivations) => void;
  /**
   * What every projection (q/k/v/o, gate/up/down, LM head) sees of its input: e.g. values rounded to
   * fp16, as llama.cpp's CPU kernels convert activations before an F16 weight's matmul. Default: as is.
   */
  linearInput?: (x: Float64Array) => Float64Array;
}

/** y[r, o] = sum_i x[r, i] * W[o, i] for W in HF [out, in] layout. */
function linear(x: Float64Array, rows: number, w: Float64Array, out: number, inp: number): Float64Array {
  if (w.length !== out * inp) throw new Error(`reference: weight has ${w.length} values, expected ${out}x${inp}`);
  const y = new Float64Array(rows * out);
  for (let r = 0; r < rows; r++) {
    const xo = r * inp;
    for (let o = 0; o < out; o++) {
      const wo = o * inp;
      let acc = 0;
      for (let i = 0; i < inp; i++) acc += x[xo + i]! * w[wo + i]!;
      y[r * out + o] = acc;
    }
  }
  return y;
}

/** RMSNorm of each `width`-wide row, times (offset + gamma): Gemma stores the gain minus one. */
function rmsNorm(x: Float64Array, rows: number, width: number, gamma: Float64Array, eps: number, offset = 0): Float64Array {
  const y = new Float64Array(x.length);
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    for (let i = 0; i < width; i++) ss += x[r * width + i]! ** 2;
    const inv = 1 / Math.sqrt(ss / width + eps);
    for (let i = 0; i < width; i++) y[r * width + i] = x[r * width + i]! * inv * (offset + gamma[i]!);
  }
  return y;
}

/** Rows [start, start + count) of a row-major matrix `width` wide. */
function rowBlock(w: Float64Array, width: number, start: number, count: number): Float64Array {
  return w.subarray(start * width, (start + count) * width);
}

function addBias(y: Float64Array, bias: Float64Array | undefined): Float64Array {
  if (!bias) return y;
  for (let i = 0; i < y.length; i++) y[i] = y[i]! + bias[i % bias.length]!;
  return y;
}

/** The MLP activation: silu, or gelu in its tanh form (Gemma's gelu_pytorch_tanh). */
function activation(config: LlamaConfig, g: number): number {
  if (config.hiddenAct === 'silu') return g / (1 + Math.exp(-g));
  return 0.5 * g * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (g + 0.044715 * g ** 3)));
}

function add(a: Float64Array, b: Float64Array): Float64Array {
  const y = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) y[i] = a[i]! + b[i]!;
  return y;
}

/** Rotate each head's [d, d + D/2] pairs by position * inv_freq[d] (HF's rotate_half convention). */
function rope(x: Float64Array, rows: number, heads: number, D: number, positions: number[], invFreq: number[]): Float64Array {
  const y = new Float64Array(x.length);
  const half = D / 2;
  for (let r = 0; r < rows; r++) {
    for (let h = 0; h < heads; h++) {
      const base = (r * heads + h) * D;
      for (let d = 0; d < half; d++) {
        const a = positions[r]! * invFreq[d]!;
        const c = Math.cos(a);
        const s = Math.sin(a);
        const x1 = x[base + d]!;
        const x2 = x[base + d + half]!;
        y[base + d] = x1 * c - x2 * s;
        y[base + d + half] = x2 * c + x1 * s;
      }
    }
  }
  return y;
}

/** Rotation speed of pair d: theta^(-2d/D), scaled by the config's rope scaling. */
function ropeFrequency(config: LlamaConfig, d: number): number {
  const f = config.ropeTheta ** ((-2 * d) / config.headDim);
  const r = config.ropeScaling;
  if (r.kind === 'default') return f;
  if (r.kind === 'linear') return f / r.factor;
  // llama3: how many times the pair turns within the original context decides its scale:
  // many turns (> highFreqFactor) keep f, few (< lowFreqFactor) get f / factor, linear blend in between
  const turns = (r.originalMaxPositionEmbeddings * f) / (2 * Math.PI);
  const t = Math.min(1, Math.max(0, (turns - r.lowFreqFactor) / (r.highFreqFactor - r.lowFreqFactor)));
  return f * (t + (1 - t) / r.factor);
}

/** y[r, o] += b[o] (HF's o_proj / down_proj bias, when the weights have one: attention_bias / mlp_bias, or a pruned model's compensation) */
function withBias(y: Float64Array, b: Float64Array | undefined): Float64Array {
  if (!b) return y;
  for (let i = 0; i < y.length; i++) y[i]! += b[i % b.length]!;
  return y;
}

function weightOf(weights: Map<string, Float64Array>, name: string): Float64Array {
  const w = weights.get(name);
  if (!w) throw new Error(`reference: weight "${name}" missing`);
  return w;
}

/** Logits [batch * seq * vocab] of the model on `inputIds` (all rows the same length). */
export function referenceForward(config: LlamaConfig, weights: Map<string, Float64Array>, inputIds: number[][], opts: ReferenceOptions = {}): Float64Array {
  const B = inputIds.length;
  const S = inputIds[0]?.length ?? 0;
  if (inputIds.some((r) => r.length !== S)) throw new Error('reference: all rows of inputIds must have the same length');
  const { hiddenSize: Hd, numHeads: H, numKvHeads: KV, headDim: D, intermediateSize: I, vocabSize: V, rmsNormEps: eps } = config;
  const rows = B * S;
  const project = (x: Float64Array, w: Float64Array, out: number, inp: number) => linear(opts.linearInput ? opts.linearInput(x) : x, rows, w, out, inp);
  const mask = opts.attentionMask ?? inputIds.map((r) => r.map(() => 1));
  const positions = (opts.positionIds ?? inputIds.map((r) => r.map((_, t) => t))).flat();
  const invFreq = Array.from({ length: D / 2 }, (_, d) => ropeFrequency(config, d));
  const nRep = H / KV;
  const L = (i: number, n: string) => weightOf(weights, `model.layers.${i}.${n}.weight`);

  const embed = weightOf(weights, 'model.embed_tokens.weight');
  const offset = config.normOffset;
  let x: Float64Array = new Float64Array(rows * Hd);
  inputIds.flat().forEach((id, r) => {
    if (!(id >= 0 && id < V)) throw new Error(`reference: token id ${id} out of range [0, ${V})`);
    for (let i = 0; i < Hd; i++) x[r * Hd + i] = embed[id * Hd + i]! * config.embeddingScale;
  });
  const window = config.slidingWindow ?? Infinity;

  for (let layer = 0; layer < config.numLayers; layer++) {
    const attnNormOut = rmsNorm(x, rows, Hd, L(layer, 'input_layernorm'), eps, offset);
    // Phi-3 stores [q; k; v] as one qkv_proj
    const qkv = config.fusedCheckpoint ? L(layer, 'self_attn.qkv_proj') : undefined;
    const qW = qkv ? rowBlock(qkv, Hd, 0, H * D) : L(layer, 'self_attn.q_proj');
    const kW = qkv ? rowBlock(qkv, Hd, H * D, KV * D) : L(layer, 'self_attn.k_proj');
    const vW = qkv ? rowBlock(qkv, Hd, (H + KV) * D, KV * D) : L(layer, 'self_attn.v_proj');
    const bias = (n: string) => (config.qkvBias ? weightOf(weights, `model.layers.${layer}.self_attn.${n}.bias`) : undefined);
    const q = addBias(project(attnNormOut, qW, H * D, Hd), bias('q_proj'));
    const k = addBias(project(attnNormOut, kW, KV * D, Hd), bias('k_proj'));
    const v = addBias(project(attnNormOut, vW, KV * D, Hd), bias('v_proj'));
    // Qwen3: each head's q and k RMS-normalised over head_dim (one gain for all heads) before RoPE
    const qn = config.qkNorm ? rmsNorm(q, rows * H, D, L(layer, 'self_attn.q_norm'), eps) : q;
    const kn = config.qkNorm ? rmsNorm(k, rows * KV, D, L(layer, 'self_attn.k_norm'), eps) : k;
    const qr = rope(qn, rows, H, D, positions, invFreq);
    const kr = rope(kn, rows, KV, D, positions, invFreq);

    const z = new Float64Array(rows * H * D);
    const scores = new Float64Array(S);
    for (let b = 0; b < B; b++) {
      for (let h = 0; h < H; h++) {
        const g = Math.floor(h / nRep);
        for (let t = 0; t < S; t++) {
          const qo = ((b * S + t) * H + h) * D;
          let max = -Infinity;
          let any = false;
          for (let j = 0; j < S; j++) {
            if (j > t || t - j >= window || mask[b]![j] === 0) {
              scores[j] = -Infinity;
              continue;
            }
            const ko = ((b * S + j) * KV + g) * D;
            let dot = 0;
            for (let d = 0; d < D; d++) dot += qr[qo + d]! * kr[ko + d]!;
            scores[j] = dot / Math.sqrt(D);
            max = Math.max(max, scores[j]!);
            any = true;
          }
          // a query that may see nothing (a padding position): HF's additive-min mask gives a uniform mix of all keys
          let sum = 0;
          for (let j = 0; j < S; j++) {
            scores[j] = any ? (scores[j] === -Infinity ? 0 : Math.exp(scores[j]! - max)) : 1;
            sum += scores[j]!;
          }
          for (let j = 0; j < S; j++) {
            const p = scores[j]! / sum;
            if (p === 0) continue;
            const vo = ((b * S + j) * KV + g) * D;
            for (let d = 0; d < D; d++) z[qo + d] = z[qo + d]! + p * v[vo + d]!;
          }
        }
      }
    }
    const attnOut = withBias(project(z, L(layer, 'self_attn.o_proj'), Hd, H * D), weights.get(`model.layers.${layer}.self_attn.o_proj.bias`));
    const m = add(x, attnOut);
    const ffnNormOut = rmsNorm(m, rows, Hd, L(layer, 'post_attention_layernorm'), eps, offset);
    // Phi-3 stores [gate; up] as one gate_up_proj
    const gateUp = config.fusedCheckpoint ? L(layer, 'mlp.gate_up_proj') : undefined;
    const g = project(ffnNormOut, gateUp ? rowBlock(gateUp, Hd, 0, I) : L(layer, 'mlp.gate_proj'), I, Hd);
    const u = project(ffnNormOut, gateUp ? rowBlock(gateUp, Hd, I, I) : L(layer, 'mlp.up_proj'), I, Hd);
    const s = new Float64Array(rows * I);
    for (let i = 0; i < s.length; i++) s[i] = activation(config, g[i]!) * u[i]!;
    const ffnOut = withBias(project(s, L(layer, 'mlp.down_proj'), Hd, I), weights.get(`model.layers.${layer}.mlp.down_proj.bias`));
    const y = add(m, ffnOut);
    opts.capture?.(layer, { x, attnNormOut, q, k, v, z, attnOut, m, ffnNormOut, g, u, s, ffnOut, y });
    x = y;
  }

  const xf = rmsNorm(x, rows, Hd, weightOf(weights, 'model.norm.weight'), eps, offset);
  const head = config.tieWordEmbeddings ? embed : weightOf(weights, 'lm_head.weight');
  return project(xf, head, V, Hd);
}

/**
 * log p(ids[t + 1] | ids[..t]) for t in [from, ids.length - 1), from float64 logits [positions][vocab] of
 * `ids` (row t predicts token t + 1): the reference every token-level check compares with.
 */
export function referenceTokenLogProbs(logits: Float64Array, vocabSize: number, ids: ArrayLike<number>, from = 0): number[] {
  const out: number[] = [];
  for (let t = from; t + 1 < ids.length; t++) {
    const row = logits.subarray(t * vocabSize, (t + 1) * vocabSize);
    let max = -Infinity;
    for (const x of row) max = Math.max(max, x);
    let sum = 0;
    for (const x of row) sum += Math.exp(x - max);
    out.push(row[ids[t + 1]!]! - max - Math.log(sum));
  }
  return out;
}
