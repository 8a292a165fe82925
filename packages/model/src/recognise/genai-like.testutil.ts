/**
 * Test helper: a small onnxruntime-genai-builder-style graph (contrib ops, as the builder writes them)
 * with random float32 weights, in GQA shapes the shared fixture (8 heads, 8 KV heads) lacks:
 * SimplifiedLayerNormalization / SkipSimplifiedLayerNormalization, GroupQueryAttention on a packed
 * qkv_proj (rotary inside), or separate q/k/v MatMuls through RotaryEmbedding nodes.
 */
import { GraphBuilder, valueInfo } from '../export/graph-builder.js';
import { DataType, type ModelProto } from '@llm-bip/onnx-io';

export interface GenaiLikeShape {
  layers: number;
  hidden: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  inter: number;
  vocab: number;
  /** one packed qkv_proj MatMul (true), or q/k/v MatMuls + RotaryEmbedding nodes carrying num_heads */
  packed: boolean;
  seed: number;
}

function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
}

export function buildGenaiLike(c: GenaiLikeShape): ModelProto {
  const g = new GraphBuilder();
  const next = random(c.seed);
  const D = c.headDim;
  const qW = c.numHeads * D;
  const kvW = c.numKvHeads * D;
  const w = (name: string, rows: number, cols: number) => g.constant(name, DataType.FLOAT, [rows, cols], Float32Array.from({ length: rows * cols }, () => (next() * 2) / Math.sqrt(rows)));
  const gamma = (name: string) => g.constant(name, DataType.FLOAT, [c.hidden], Float32Array.from({ length: c.hidden }, () => 1 + next() * 0.2));
  const ms = 'com.microsoft';
  const contrib = (op: string, name: string, inputs: string[], attrs: Record<string, number | { float: number }>, outputs: string[]) => {
    g.node(op, name, inputs, attrs, outputs);
    g.nodes.at(-1)!.domain = ms;
  };

  // attention-mask bookkeeping as the builder does it: seqlens_k = sum(mask) - 1, total = mask width (int32)
  const one = g.int64('/model/constants/INT64/[1]', [1]);
  const sum = g.op('ReduceSum', '/model/attn_mask/ReduceSum', ['attention_mask', one], { keepdims: 0 });
  const seqlens = g.op('Cast', '/model/attn_mask/seqlens', [g.op('Sub', '/model/attn_mask/Sub', [sum, one])], { to: DataType.INT32 });
  const shape = g.op('Shape', '/model/attn_mask/Shape', ['attention_mask']);
  const total = g.op('Cast', '/model/attn_mask/total', [g.op('Gather', '/model/attn_mask/Gather', [shape, g.int64('/model/constants/INT64/1', [1], true)], { axis: 0 })], { to: DataType.INT32 });
  const maxPos = 64;
  const half = D / 2;
  const cos = new Float32Array(maxPos * half);
  const sin = new Float32Array(maxPos * half);
  for (let p = 0; p < maxPos; p++) for (let i = 0; i < half; i++) {
    const a = p / 10000 ** ((2 * i) / D);
    cos[p * half + i] = Math.cos(a);
    sin[p * half + i] = Math.sin(a);
  }
  g.constant('cos_cache', DataType.FLOAT, [maxPos, half], cos);
  g.constant('sin_cache', DataType.FLOAT, [maxPos, half], sin);

  let x = g.op('Gather', '/model/embed_tokens/Gather', [w('model.embed_tokens.weight', c.vocab, c.hidden), 'input_ids']);
  const eps = { float: 1e-6 };
  let xn = g.op('SimplifiedLayerNormalization', '/model/layers.0/input_layernorm/LayerNorm', [x, gamma('model.layers.0.input_layernorm.weight')], { epsilon: eps, axis: -1, stash_type: 1 });
  const inputs = [valueInfo('input_ids', DataType.INT64, ['batch', 'seq']), valueInfo('attention_mask', DataType.INT64, ['batch', 'total'])];
  if (!c.packed) inputs.push(valueInfo('position_ids', DataType.INT64, ['batch', 'seq']));
  const outputs = [valueInfo('logits', DataType.FLOAT, ['batch', 'seq', c.vocab])];
  for (let i = 0; i < c.layers; i++) {
    const L = `/model/layers.${i}`;
    const past = [`past_key_values.${i}.key`, `past_key_values.${i}.value`];
    const present = [`present.${i}.key`, `present.${i}.value`];
    inputs.push(...past.map((p) => valueInfo(p, DataType.FLOAT, ['batch', c.numKvHeads, 'past', D])));
    outputs.push(...present.map((p) => valueInfo(p, DataType.FLOAT, ['batch', c.numKvHeads, 'total', D])));
    const gqaAttrs = { num_heads: c.numHeads, kv_num_heads: c.numKvHeads, scale: { float: 1 / Math.sqrt(D) }, local_window_size: -1, do_rotary: c.packed ? 1 : 0, rotary_interleaved: 0 };
    const attn = `${L}/attn/GroupQueryAttention/output_0`;
    if (c.packed) {
      const qkv = g.op('MatMul', `${L}/attn/qkv_proj/MatMul`, [xn, w(`model.layers.${i}.attn.qkv_proj.MatMul.weight`, c.hidden, qW + 2 * kvW)]);
      contrib('GroupQueryAttention', `${L}/attn/GroupQueryAttention`, [qkv, '', '', past[0]!, past[1]!, seqlens, total, 'cos_cache', 'sin_cache'], gqaAttrs, [attn, present[0]!, present[1]!]);
    } else {
      const proj = (n: string, width: number) => g.op('MatMul', `${L}/attn/${n}_proj/MatMul`, [xn, w(`model.layers.${i}.attn.${n}_proj.MatMul.weight`, c.hidden, width)]);
      const rot = (t: string, n: string, heads: number) => {
        const out = `${L}/attn/${n}_rotary/output_0`;
        contrib('RotaryEmbedding', `${L}/attn/${n}_rotary/RotaryEmbedding`, [t, 'position_ids', 'cos_cache', 'sin_cache'], { interleaved: 0, num_heads: heads }, [out]);
        return out;
      };
      const q = rot(proj('q', qW), 'q', c.numHeads);
      const k = rot(proj('k', kvW), 'k', c.numKvHeads);
      const v = proj('v', kvW);
      contrib('GroupQueryAttention', `${L}/attn/GroupQueryAttention`, [q, k, v, past[0]!, past[1]!, seqlens, total], gqaAttrs, [attn, present[0]!, present[1]!]);
    }
    const o = g.op('MatMul', `${L}/attn/o_proj/MatMul`, [attn, w(`model.layers.${i}.attn.o_proj.MatMul.weight`, qW, c.hidden)]);
    const m = `${L}/post_attention_layernorm/output_3`;
    const mn = `${L}/post_attention_layernorm/output_0`;
    contrib('SkipSimplifiedLayerNormalization', `${L}/post_attention_layernorm/SkipLayerNorm`, [x, o, gamma(`model.layers.${i}.post_attention_layernorm.weight`)], { epsilon: eps }, [mn, '', '', m]);
    const gate = g.op('MatMul', `${L}/mlp/gate_proj/MatMul`, [mn, w(`model.layers.${i}.mlp.gate_proj.MatMul.weight`, c.hidden, c.inter)]);
    const up = g.op('MatMul', `${L}/mlp/up_proj/MatMul`, [mn, w(`model.layers.${i}.mlp.up_proj.MatMul.weight`, c.hidden, c.inter)]);
    const silu = g.op('Mul', `${L}/mlp/act_fn/Mul`, [gate, g.op('Sigmoid', `${L}/mlp/act_fn/Sigmoid`, [gate])]);
    const s = g.op('Mul', `${L}/mlp/Mul`, [silu, up]);
    const down = g.op('MatMul', `${L}/mlp/down_proj/MatMul`, [s, w(`model.layers.${i}.mlp.down_proj.MatMul.weight`, c.inter, c.hidden)]);
    const last = i === c.layers - 1;
    const N = last ? `/model/layers.${c.layers}/final_norm_layernorm` : `/model/layers.${i + 1}/input_layernorm`;
    const normed = `${N}/output_0`;
    const res = last ? [] : ['', '', `${N}/output_3`];
    contrib('SkipSimplifiedLayerNormalization', `${N}/SkipLayerNorm`, [m, down, gamma(last ? 'model.final_norm.weight' : `model.layers.${i + 1}.input_layernorm.weight`)], { epsilon: eps }, [normed, ...res]);
    xn = normed;
    x = res[2] ?? '';
  }
  g.op('MatMul', '/lm_head/MatMul', [xn, w('lm_head.MatMul.weight', c.hidden, c.vocab)], {}, 'logits');
  return {
    irVersion: 8,
    producerName: 'onnxruntime-genai',
    opsetImport: [
      { domain: '', version: 17 },
      { domain: ms, version: 1 },
    ],
    graph: { name: 'genai-like', node: g.nodes, initializer: g.initializers, input: inputs, output: outputs },
  };
}
