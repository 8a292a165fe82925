/**
 * The ONNX graph of a HF LLaMA-family causal LM (Llama, Mistral, Qwen2, Qwen3, Phi-3, Gemma) in
 * standard ops (opset 17), written to follow transformers' modeling_llama.py step by step, with each
 * family's differences (hf/families.ts) where that file's counterpart has them. Weight initializers are returned as slots
 * (name, type, dims, where the data comes from); the caller fills them inline or streams them to
 * external data. See README.md in this folder for the layout.
 */
import { DataType, type DataTypeCode, type ModelProto, type TensorProto, type ValueInfoProto } from '@llm-bip/onnx-io';
import type { LlamaConfig } from '../hf/config.js';
import { hfNames } from '../hf/weights.js';
import { GraphBuilder, valueInfo } from './graph-builder.js';

export const EXPORTER_NAME = 'llm-bip';
export const EXPORTER_VERSION = '0.1.0';
export const EXPORT_OPSET = 17;

export type ExportDtype = 'float32' | 'float16';

export interface LlamaGraphOptions {
  dtype: ExportDtype;
  kvCache: boolean;
}

/** A weight initializer the caller must fill: ONNX name/type/dims and the HF tensor it comes from. */
export interface WeightSlot {
  tensor: TensorProto;
  hfName: string;
  /** shape of the HF tensor (the whole tensor, also when only `rows` of it fill this slot) */
  hfShape: number[];
  /** HF [out, in] stored as ONNX [in, out] (Linear weights used by MatMul) */
  transpose: boolean;
  /** rows [start, end) of the HF tensor (Phi-3's fused qkv_proj / gate_up_proj split into q, k, v, gate, up) */
  rows?: { start: number; end: number };
}

export interface LlamaGraph {
  model: ModelProto;
  weights: WeightSlot[];
}

/** ONNX value names the graph exposes to callers and recognisers. */
export const ioNames = {
  inputIds: 'input_ids',
  attentionMask: 'attention_mask',
  positionIds: 'position_ids',
  logits: 'logits',
  pastKey: (i: number) => `past_key_values.${i}.key`,
  pastValue: (i: number) => `past_key_values.${i}.value`,
  presentKey: (i: number) => `present.${i}.key`,
  presentValue: (i: number) => `present.${i}.value`,
};

/** Inverse rotary frequencies for head_dim as transformers computes them (default, linear, llama3), rounded to float32. */
export function inverseFrequencies(c: Pick<LlamaConfig, 'headDim' | 'ropeTheta' | 'ropeScaling'>): Float32Array {
  const half = c.headDim / 2;
  const out = new Float32Array(half);
  const r = c.ropeScaling;
  for (let i = 0; i < half; i++) {
    const f = 1 / c.ropeTheta ** ((2 * i) / c.headDim);
    if (r.kind === 'linear') {
      out[i] = f / r.factor;
    } else if (r.kind === 'llama3') {
      const wavelen = (2 * Math.PI) / f;
      const lowFreqWavelen = r.originalMaxPositionEmbeddings / r.lowFreqFactor;
      const highFreqWavelen = r.originalMaxPositionEmbeddings / r.highFreqFactor;
      if (wavelen < highFreqWavelen) out[i] = f;
      else if (wavelen > lowFreqWavelen) out[i] = f / r.factor;
      else {
        const smooth = (r.originalMaxPositionEmbeddings / wavelen - r.lowFreqFactor) / (r.highFreqFactor - r.lowFreqFactor);
        out[i] = ((1 - smooth) * f) / r.factor + smooth * f;
      }
    } else {
      out[i] = f;
    }
  }
  return out;
}

export function buildLlamaGraph(c: LlamaConfig, opts: LlamaGraphOptions): LlamaGraph {
  const T: DataTypeCode = opts.dtype === 'float16' ? DataType.FLOAT16 : DataType.FLOAT;
  const g = new GraphBuilder();
  const weights: WeightSlot[] = [];
  const H = c.numHeads;
  const KV = c.numKvHeads;
  const D = c.headDim;
  const nRep = H / KV;

  const weight = (hfName: string, hfShape: number[], transpose: boolean, from?: { name: string; shape: number[]; rows: { start: number; end: number } }): string => {
    const dims = transpose ? [hfShape[1]!, hfShape[0]!] : hfShape.slice();
    const tensor: TensorProto = { name: hfName, dataType: T, dims };
    g.initializer(tensor);
    weights.push(from ? { tensor, hfName: from.name, hfShape: from.shape, transpose, rows: from.rows } : { tensor, hfName, hfShape, transpose });
    return hfName;
  };
  // a Linear weight; Phi-3 checkpoints hold q/k/v and gate/up as row blocks of one fused tensor, exported as separate MatMuls
  const linearWeight = (hfName: string, out: number, inp: number, fused?: { name: string; rows: number; start: number }): string =>
    fused ? weight(hfName, [out, inp], true, { name: fused.name, shape: [fused.rows, inp], rows: { start: fused.start, end: fused.start + out } }) : weight(hfName, [out, inp], true);

  // shared constants (no head counts in them: surgery never touches these)
  const axis0 = g.int64('/const/axes_0', [0]);
  const axis1 = g.int64('/const/axes_1', [1]);
  const axes12 = g.int64('/const/axes_1_2', [1, 2]);
  const idx1 = g.int64('/const/index_1', [1], true);
  const zero = g.int64('/const/zero', [0], true);
  const one = g.int64('/const/one', [1], true);
  const halfSplit = g.int64('/const/rope_split', [D / 2, D / 2]);
  const two = g.constant('/const/two', DataType.FLOAT, [], [2]);
  // constants only some families use, made on first use (a LLaMA export stays as it was)
  const once = <V>(make: () => V): (() => V) => {
    let made: V | undefined;
    return () => (made ??= make());
  };
  const normOffset = once(() => g.constant('/const/norm_offset', DataType.FLOAT, [], [c.normOffset]));

  // RMSNorm as HF (x * rsqrt(mean(x^2, -1) + eps), in float32, cast back, times gamma), written as x / sqrt(...);
  // Gemma: times (1 + w) in float32, then cast back (GemmaRMSNorm)
  const rmsNorm = (x: string, prefix: string, hfName: string, width = c.hiddenSize): string => {
    const eps = g.constant(`${prefix}/eps`, DataType.FLOAT, [], [c.rmsNormEps]);
    const x32 = T === DataType.FLOAT ? x : g.op('Cast', `${prefix}/Cast`, [x], { to: DataType.FLOAT });
    // Pow -> ReduceMean -> Add -> Sqrt -> Div: the pattern ORT fuses into SimplifiedLayerNormalization
    const sq = g.op('Pow', `${prefix}/Pow`, [x32, two]);
    const mean = g.op('ReduceMean', `${prefix}/ReduceMean`, [sq], { axes: [-1], keepdims: 1 });
    const plus = g.op('Add', `${prefix}/Add_eps`, [mean, eps]);
    const rms = g.op('Sqrt', `${prefix}/Sqrt`, [plus]);
    const normed32 = g.op('Div', `${prefix}/Div`, [x32, rms]);
    if (c.normOffset !== 0) {
      const w = weight(hfName, [width], false);
      const w32 = T === DataType.FLOAT ? w : g.op('Cast', `${prefix}/Cast_weight`, [w], { to: DataType.FLOAT });
      const gain = g.op('Add', `${prefix}/Add_offset`, [w32, normOffset()]);
      const scaled32 = g.op('Mul', `${prefix}/Mul_weight`, [normed32, gain]);
      return T === DataType.FLOAT ? scaled32 : g.op('Cast', `${prefix}/Cast_back`, [scaled32], { to: T });
    }
    const normed = T === DataType.FLOAT ? normed32 : g.op('Cast', `${prefix}/Cast_back`, [normed32], { to: T });
    return g.op('Mul', `${prefix}/Mul_weight`, [normed, weight(hfName, [width], false)]);
  };

  // embeddings
  const embedded = g.op('Gather', '/model/embed_tokens/Gather', [weight(hfNames.embed, [c.vocabSize, c.hiddenSize], false), ioNames.inputIds], { axis: 0 });
  // Gemma: times sqrt(hidden) as a constant of the activation type (GemmaModel's normalizer)
  const x0 = c.embeddingScale === 1 ? embedded : g.op('Mul', '/model/embed_tokens/Mul_scale', [embedded, g.constant('/model/embed_tokens/scale', T, [], [c.embeddingScale])]);

  // rotary cos/sin [batch, 1, seq, head_dim], computed once from position_ids (float32, then cast like HF)
  const invFreq = g.constant('/model/rotary_emb/inv_freq', DataType.FLOAT, [D / 2], inverseFrequencies(c));
  const pos32 = g.op('Cast', '/model/rotary_emb/Cast_positions', [ioNames.positionIds], { to: DataType.FLOAT });
  const posCol = g.op('Unsqueeze', '/model/rotary_emb/Unsqueeze_positions', [pos32, g.int64('/const/axes_-1', [-1])]);
  const freqs = g.op('Mul', '/model/rotary_emb/Mul_freqs', [posCol, invFreq]);
  const emb = g.op('Concat', '/model/rotary_emb/Concat', [freqs, freqs], { axis: -1 });
  const cos32 = g.op('Cos', '/model/rotary_emb/Cos', [emb]);
  const sin32 = g.op('Sin', '/model/rotary_emb/Sin', [emb]);
  const cosT = T === DataType.FLOAT ? cos32 : g.op('Cast', '/model/rotary_emb/Cast_cos', [cos32], { to: T });
  const sinT = T === DataType.FLOAT ? sin32 : g.op('Cast', '/model/rotary_emb/Cast_sin', [sin32], { to: T });
  const cos = g.op('Unsqueeze', '/model/rotary_emb/Unsqueeze_cos', [cosT, axis1]);
  const sin = g.op('Unsqueeze', '/model/rotary_emb/Unsqueeze_sin', [sinT, axis1]);

  // additive attention bias [batch, 1, seq, total]: causal (key j <= past + query i) and attention_mask
  const maskShape = g.op('Shape', '/model/mask/Shape_mask', [ioNames.attentionMask]);
  const total = g.op('Gather', '/model/mask/Gather_total', [maskShape, idx1], { axis: 0 });
  const idsShape = g.op('Shape', '/model/mask/Shape_ids', [ioNames.inputIds]);
  const seqLen = g.op('Gather', '/model/mask/Gather_seq', [idsShape, idx1], { axis: 0 });
  const pastLen = g.op('Sub', '/model/mask/Sub_past', [total, seqLen]);
  const keyPos = g.op('Range', '/model/mask/Range_keys', [zero, total, one]);
  const queryPos = g.op('Range', '/model/mask/Range_queries', [pastLen, total, one]);
  const keyRow = g.op('Unsqueeze', '/model/mask/Unsqueeze_keys', [keyPos, axis0]);
  const queryCol = g.op('Unsqueeze', '/model/mask/Unsqueeze_queries', [queryPos, axis1]);
  const causal = g.op('LessOrEqual', '/model/mask/LessOrEqual_causal', [keyRow, queryCol]);
  const padBool = g.op('Cast', '/model/mask/Cast_mask', [ioNames.attentionMask], { to: DataType.BOOL });
  const pad4 = g.op('Unsqueeze', '/model/mask/Unsqueeze_mask', [padBool, axes12]);
  const allowed = g.op('And', '/model/mask/And', [causal, pad4]);
  const maskZero = g.constant('/model/mask/zero', DataType.FLOAT, [], [0]);
  const maskMin = g.constant('/model/mask/min', DataType.FLOAT, [], [-3.4028234663852886e38]);
  // sliding window (Mistral, Phi-3; transformers' sliding_window_overlay): key j also needs j > i - window
  const visible =
    c.slidingWindow === undefined
      ? allowed
      : g.op('And', '/model/mask/And_window', [
          allowed,
          g.op('Greater', '/model/mask/Greater_window', [keyRow, g.op('Sub', '/model/mask/Sub_window', [queryCol, g.int64('/model/mask/window', [c.slidingWindow], true)])]),
        ]);
  const bias = g.op('Where', '/model/mask/Where', [visible, maskZero, maskMin]);

  const scale = g.constant('/model/attention_scale', T, [], [1 / Math.sqrt(D)]);

  const silu = (x: string, prefix: string): string => g.op('Mul', `${prefix}/Mul`, [x, g.op('Sigmoid', `${prefix}/Sigmoid`, [x])]);
  // gelu, tanh form, as torch computes gelu(approximate='tanh'): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
  const gelu = once(() => {
    const k = (name: string, v: number) => g.constant(`/const/gelu_${name}`, T, [], [v]);
    return { c: k('sqrt_2_over_pi', Math.sqrt(2 / Math.PI)), cubic: k('cubic', 0.044715), half: k('half', 0.5), one: k('one', 1), three: k('three', 3) };
  });
  const geluTanh = (x: string, prefix: string): string => {
    const k = gelu();
    const cube = g.op('Pow', `${prefix}/Pow`, [x, k.three]);
    const inner = g.op('Add', `${prefix}/Add_cubic`, [x, g.op('Mul', `${prefix}/Mul_cubic`, [cube, k.cubic])]);
    const t = g.op('Tanh', `${prefix}/Tanh`, [g.op('Mul', `${prefix}/Mul_c`, [inner, k.c])]);
    const halfX = g.op('Mul', `${prefix}/Mul_half`, [x, k.half]);
    return g.op('Mul', `${prefix}/Mul`, [halfX, g.op('Add', `${prefix}/Add_one`, [t, k.one])]);
  };

  const applyRope = (x: string, prefix: string): string => {
    const [x1, x2] = g.node('Split', `${prefix}/Split`, [x, halfSplit], { axis: -1 }, 2) as [string, string];
    const negX2 = g.op('Neg', `${prefix}/Neg`, [x2]);
    const rotated = g.op('Concat', `${prefix}/Concat`, [negX2, x1], { axis: -1 });
    const a = g.op('Mul', `${prefix}/Mul_cos`, [x, cos]);
    const b = g.op('Mul', `${prefix}/Mul_sin`, [rotated, sin]);
    return g.op('Add', `${prefix}/Add`, [a, b]);
  };

  const inputs = [
    valueInfo(ioNames.inputIds, DataType.INT64, ['batch_size', 'sequence_length']),
    valueInfo(ioNames.attentionMask, DataType.INT64, ['batch_size', 'total_sequence_length']),
    valueInfo(ioNames.positionIds, DataType.INT64, ['batch_size', 'sequence_length']),
  ];
  const outputs = [valueInfo(ioNames.logits, DataType.FLOAT, ['batch_size', 'sequence_length', c.vocabSize])];
  const presentOutputs: ValueInfoProto[] = [];

  let x = x0;
  for (let i = 0; i < c.numLayers; i++) {
    const L = `/model/layers.${i}`;
    const A = `${L}/self_attn`;
    const xn = rmsNorm(x, `${L}/input_layernorm`, hfNames.attnNorm(i));

    const qkvRows = (H + 2 * KV) * D;
    const fusedStart = { q: 0, k: H * D, v: (H + KV) * D };
    const proj = (name: 'q' | 'k' | 'v', heads: number): string => {
      const P = `${A}/${name}_proj`;
      const fused = c.fusedCheckpoint ? { name: hfNames.qkv(i), rows: qkvRows, start: fusedStart[name] } : undefined;
      const w = linearWeight(hfNames[name](i), heads * D, c.hiddenSize, fused);
      let y = g.op('MatMul', `${P}/MatMul`, [xn, w]);
      if (c.qkvBias) y = g.op('Add', `${P}/Add_bias`, [y, weight(hfNames[`${name}Bias`](i), [heads * D], false)]);
      const shape = g.int64(`${A}/${name}_shape`, [0, 0, heads, D]);
      let r = g.op('Reshape', `${A}/Reshape_${name}`, [y, shape]);
      // Qwen3: RMSNorm over head_dim, one gain for every head, before RoPE
      if (c.qkNorm && name !== 'v') r = rmsNorm(r, `${A}/${name}_norm`, name === 'q' ? hfNames.qNorm(i) : hfNames.kNorm(i), D);
      return g.op('Transpose', `${A}/Transpose_${name}`, [r], { perm: [0, 2, 1, 3] });
    };
    const q = applyRope(proj('q', H), `${A}/rope_q`);
    let k = applyRope(proj('k', KV), `${A}/rope_k`);
    let v = proj('v', KV);

    if (opts.kvCache) {
      // the concatenated cache is the present output itself (optimum's names)
      k = g.op('Concat', `${A}/Concat_past_key`, [ioNames.pastKey(i), k], { axis: 2 }, ioNames.presentKey(i));
      v = g.op('Concat', `${A}/Concat_past_value`, [ioNames.pastValue(i), v], { axis: 2 }, ioNames.presentValue(i));
      inputs.push(
        valueInfo(ioNames.pastKey(i), T, ['batch_size', KV, 'past_sequence_length', D]),
        valueInfo(ioNames.pastValue(i), T, ['batch_size', KV, 'past_sequence_length', D]),
      );
      presentOutputs.push(
        valueInfo(ioNames.presentKey(i), T, ['batch_size', KV, 'total_sequence_length', D]),
        valueInfo(ioNames.presentValue(i), T, ['batch_size', KV, 'total_sequence_length', D]),
      );
    }

    // GQA: repeat each KV head nRep times, as HF repeat_kv ([b, kv, 1, t, d] -> [b, kv, nRep, t, d] -> [b, heads, t, d])
    const repeatKv = (t: string, name: string): string => {
      if (nRep === 1) return t;
      const u = g.op('Unsqueeze', `${A}/Unsqueeze_${name}`, [t, g.int64(`${A}/${name}_unsqueeze_axes`, [2])]);
      const e = g.op('Expand', `${A}/Expand_${name}`, [u, g.int64(`${A}/${name}_repeat`, [1, 1, nRep, 1, 1])]);
      return g.op('Reshape', `${A}/Reshape_repeat_${name}`, [e, g.int64(`${A}/${name}_repeat_shape`, [0, H, -1, D])]);
    };
    const kAll = repeatKv(k, 'key');
    const vAll = repeatKv(v, 'value');

    const kT = g.op('Transpose', `${A}/Transpose_key_t`, [kAll], { perm: [0, 1, 3, 2] });
    const scores = g.op('MatMul', `${A}/MatMul_scores`, [q, kT]);
    const scaled = g.op('Mul', `${A}/Mul_scale`, [scores, scale]);
    const scaled32 = T === DataType.FLOAT ? scaled : g.op('Cast', `${A}/Cast_scores`, [scaled], { to: DataType.FLOAT });
    const masked = g.op('Add', `${A}/Add_mask`, [scaled32, bias]);
    const probs32 = g.op('Softmax', `${A}/Softmax`, [masked], { axis: -1 });
    const probs = T === DataType.FLOAT ? probs32 : g.op('Cast', `${A}/Cast_probs`, [probs32], { to: T });
    const ctx = g.op('MatMul', `${A}/MatMul_context`, [probs, vAll]);
    const ctxT = g.op('Transpose', `${A}/Transpose_context`, [ctx], { perm: [0, 2, 1, 3] });
    const z = g.op('Reshape', `${A}/Reshape_context`, [ctxT, g.int64(`${A}/context_shape`, [0, 0, H * D])]);
    const attnOut = g.op('MatMul', `${A}/o_proj/MatMul`, [z, weight(hfNames.o(i), [c.hiddenSize, H * D], true)]);
    const m = g.op('Add', `${L}/Add_attention_residual`, [x, attnOut]);

    const M = `${L}/mlp`;
    const mn = rmsNorm(m, `${L}/post_attention_layernorm`, hfNames.ffnNorm(i));
    const I = c.intermediateSize;
    const gateUp = (start: number) => (c.fusedCheckpoint ? { name: hfNames.gateUp(i), rows: 2 * I, start } : undefined);
    const gate = g.op('MatMul', `${M}/gate_proj/MatMul`, [mn, linearWeight(hfNames.gate(i), I, c.hiddenSize, gateUp(0))]);
    const up = g.op('MatMul', `${M}/up_proj/MatMul`, [mn, linearWeight(hfNames.up(i), I, c.hiddenSize, gateUp(I))]);
    const act = c.hiddenAct === 'silu' ? silu(gate, `${M}/act_fn`) : geluTanh(gate, `${M}/act_fn`);
    const s = g.op('Mul', `${M}/Mul_gate_up`, [act, up]);
    const down = g.op('MatMul', `${M}/down_proj/MatMul`, [s, weight(hfNames.down(i), [c.hiddenSize, c.intermediateSize], true)]);
    x = g.op('Add', `${L}/Add_mlp_residual`, [m, down]);
  }

  const xf = rmsNorm(x, '/model/norm', hfNames.finalNorm);
  let lmWeight: string;
  if (c.tieWordEmbeddings) {
    lmWeight = g.op('Transpose', '/lm_head/Transpose_tied', [hfNames.embed], { perm: [1, 0] });
  } else {
    lmWeight = weight(hfNames.lmHead, [c.vocabSize, c.hiddenSize], true);
  }
  // logits are float32 for both export types (fp16 models cast the lm_head output up)
  if (T === DataType.FLOAT) {
    g.op('MatMul', '/lm_head/MatMul', [xf, lmWeight], {}, ioNames.logits);
  } else {
    const logitsT = g.op('MatMul', '/lm_head/MatMul', [xf, lmWeight]);
    g.op('Cast', '/lm_head/Cast_logits', [logitsT], { to: DataType.FLOAT }, ioNames.logits);
  }

  const config = JSON.stringify({ ...c, exportDtype: opts.dtype, kvCache: opts.kvCache, weightLayout: 'in_out' });
  const model: ModelProto = {
    irVersion: 8,
    producerName: EXPORTER_NAME,
    producerVersion: EXPORTER_VERSION,
    opsetImport: [{ domain: '', version: EXPORT_OPSET }],
    metadataProps: [
      { key: 'llm_bip.exporter', value: EXPORTER_NAME },
      { key: 'llm_bip.exporter_version', value: EXPORTER_VERSION },
      { key: 'llm_bip.config', value: config },
    ],
    graph: {
      name: c.modelType,
      node: g.nodes,
      initializer: g.initializers,
      input: inputs,
      output: [...outputs, ...presentOutputs],
    },
  };
  return { model, weights };
}
