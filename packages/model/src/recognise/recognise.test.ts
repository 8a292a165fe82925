import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixtures, tempDir, buildTinyLlama, type TinyLlamaShape } from '@llm-bip/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GraphIndex, cloneModel, decodeModel, type ModelProto, type NodeProto, inlineTensorIntegers, tensorDims, DataType, float32ToBfloat16, bytesToFloat32, inlineTensorBytes } from '@llm-bip/onnx-io';
import type { ModelSpec, ShapeUse } from '../spec.js';
import { describeSpec, formatSpecSummary } from './describe.js';
import { UnsupportedGraphError } from './errors.js';
import { recogniseModel } from './recognise.js';
import { checkSpec, type ExpectedShape } from './spec-check.testutil.js';
import { matchLinear } from './linear.js';
import { moveWeightsBehindOps } from './weight-variants.testutil.js';
import { buildGenaiLike } from './genai-like.testutil.js';

const load = (path: string): ModelProto => decodeModel(readFileSync(path), path);
const here = (f: string) => join(import.meta.dirname, 'fixtures', f);

// the test-bed model's config.json, read independently of the graphs
const hf = JSON.parse(readFileSync(join(fixtures.tinyHf, 'config.json'), 'utf8'));
const testbed: ExpectedShape = {
  numLayers: hf.num_hidden_layers,
  hiddenSize: hf.hidden_size,
  numHeads: hf.num_attention_heads,
  numKvHeads: hf.num_key_value_heads,
  headDim: hf.head_dim,
  intermediateSize: hf.intermediate_size,
  vocabSize: hf.vocab_size,
  rmsNormEps: hf.rms_norm_eps,
};
// the tiny random torch exports in ./fixtures (make_torch_variants.py)
const tv = JSON.parse(readFileSync(here('config.json'), 'utf8'));
const torchTiny: ExpectedShape = {
  numLayers: tv.num_hidden_layers,
  hiddenSize: tv.hidden_size,
  numHeads: tv.num_attention_heads,
  numKvHeads: tv.num_key_value_heads,
  headDim: tv.head_dim,
  intermediateSize: tv.intermediate_size,
  vocabSize: tv.vocab_size,
  rmsNormEps: tv.rms_norm_eps,
};

const uses = (l: { shapeUses: ShapeUse[] }) => l.shapeUses.map((u) => `${u.role}@${u.node}[${u.input}][${u.element}]${u.shapeOf ? `->${u.shapeOf.node}[${u.shapeOf.element}]` : ''}`).sort();

describe('test-bed fixtures (real exporter output of bip-llama-tiny)', () => {
  it('TorchScript export: every field, no head-count constants (the exporter writes -1 for heads)', () => {
    const model = load(fixtures.torchscript);
    const spec = recogniseModel(model);
    expect(spec.recogniser).toBe('torch-onnx');
    expect(spec.flavour).toBe('torch.onnx TorchScript exporter, opset 17, float16 weights, no KV cache');
    expect(spec.weightType).toBe('float16');
    expect(spec.logitsType).toBe('float16');
    expect(spec.kvCache).toBe(false);
    expect(spec.tiedEmbeddings).toBe(false);
    expect(spec.inputs).toEqual({ inputIds: 'input_ids', attentionMask: 'attention_mask' });
    checkSpec(model, spec, testbed);
    const l0 = spec.layers[0]!;
    expect(l0.q.node).toBe('/m/model/layers.0/self_attn/q_proj/MatMul');
    expect(l0.o.weight).toBe('onnx::MatMul_1262');
    expect(l0.attnContext).toBe('/m/model/layers.0/self_attn/Reshape_3_output_0');
    expect(l0.input).toBe('/m/model/embed_tokens/Gather_output_0');
    expect(l0.residualMid).toBe('/m/model/layers.0/Add_output_0');
    expect(l0.output).toBe('/m/model/layers.0/Add_1_output_0');
    expect(l0.ffnAct).toBe('/m/model/layers.0/mlp/Mul_output_0');
    for (const l of spec.layers) expect(l.shapeUses).toEqual([]);
  });

  it('dynamo export: head counts in the shape initializers of the q/k/v and context Reshapes', () => {
    const model = load(fixtures.dynamo);
    const spec = recogniseModel(model);
    expect(spec.recogniser).toBe('torch-onnx');
    expect(spec.flavour).toBe('torch.onnx dynamo exporter, opset 20, float16 weights, no KV cache');
    checkSpec(model, spec, testbed);
    // read off the graph: val_720 = [1, -1, 8, 32] feeds the q/k/v Reshapes, val_723 = [1, -1, 256] the context one
    expect(uses(spec.layers[0]!)).toEqual(
      [
        'numHeads@node_Reshape_838[1][2]',
        'numKvHeads@node_Reshape_841[1][2]',
        'numKvHeads@node_Reshape_844[1][2]',
        'qWidth@node_Reshape_847[1][2]',
      ].sort(),
    );
    for (const l of spec.layers) expect(l.shapeUses.map((u) => u.role).sort()).toEqual(['numHeads', 'numKvHeads', 'numKvHeads', 'qWidth']);
  });

  it('onnxruntime-genai builder: GroupQueryAttention attributes, fused qkv columns, Skip norms, unnamed last residual', () => {
    const model = load(fixtures.genai);
    const spec = recogniseModel(model, { modelDir: join(fixtures.genai, '..') });
    expect(spec.recogniser).toBe('genai-builder');
    expect(spec.flavour).toBe('onnxruntime-genai model builder (GroupQueryAttention, fused qkv_proj), opset 21, float16 weights, KV cache');
    checkSpec(model, spec, testbed);
    const l0 = spec.layers[0]!;
    const qkv = 'model.layers.0.attn.qkv_proj.MatMul.weight';
    expect([l0.q, l0.k, l0.v]).toEqual([
      { node: '/model/layers.0/attn/qkv_proj/MatMul', weight: qkv, outAxis: 1, columns: { start: 0, end: 256 } },
      { node: '/model/layers.0/attn/qkv_proj/MatMul', weight: qkv, outAxis: 1, columns: { start: 256, end: 512 } },
      { node: '/model/layers.0/attn/qkv_proj/MatMul', weight: qkv, outAxis: 1, columns: { start: 512, end: 768 } },
    ]);
    expect(l0.attention).toEqual({ kind: 'group-query-attention', node: '/model/layers.0/attn/GroupQueryAttention' });
    expect(l0.attributeUses).toEqual([
      { node: '/model/layers.0/attn/GroupQueryAttention', attribute: 'num_heads', role: 'numHeads' },
      { node: '/model/layers.0/attn/GroupQueryAttention', attribute: 'kv_num_heads', role: 'numKvHeads' },
    ]);
    expect(l0.residualMid).toBe('/model/layers.0/post_attention_layernorm/output_3');
    expect(l0.ffnNorm.node).toBe('/model/layers.0/post_attention_layernorm/SkipLayerNorm');
    expect(l0.output).toBe('/model/layers.1/input_layernorm/output_3');
    // the final norm leaves its residual-sum output unnamed: a {node, output} ref
    expect(spec.layers[5]!.output).toEqual({ node: '/model/layers.6/final_norm_layernorm/SkipLayerNorm', output: 3 });
    expect(spec.finalNorm.input).toEqual(spec.layers[5]!.output);
    for (const l of spec.layers) expect(l.shapeUses).toEqual([]);
  });

  it('the three exports of one checkpoint give the same block structure', () => {
    const specs = [fixtures.torchscript, fixtures.dynamo, fixtures.genai].map((f) => recogniseModel(load(f)));
    const shape = (s: ModelSpec) => ({ ...describeSpec(s), recogniser: undefined, flavour: undefined, kvCache: undefined, perLayer: describeSpec(s).perLayer.map((l) => ({ ...l, attention: undefined })) });
    expect(shape(specs[1]!)).toEqual(shape(specs[0]!));
    expect(shape(specs[2]!)).toEqual(shape(specs[0]!));
  });
});

describe('tiny GQA torch exports (fixtures/make_torch_variants.py: 4 heads, 2 KV heads)', () => {
  it('TorchScript without cache: repeat_kv constants (Expand pieces and the n_rep Mul)', () => {
    const model = load(here('torchscript.gqa-fp32.onnx'));
    const spec = recogniseModel(model);
    expect(spec.flavour).toBe('torch.onnx TorchScript exporter, opset 17, float32 weights, no KV cache');
    checkSpec(model, spec, torchTiny);
    const A = '/m/model/layers.0/self_attn';
    expect(uses(spec.layers[0]!)).toEqual(
      [
        `kvGroupsRepeat@${A}/Concat_5[2][0]->${A}/Expand[2]`,
        `kvGroupsRepeat@${A}/Concat_7[2][0]->${A}/Expand_1[2]`,
        `kvGroupsRepeat@${A}/Mul_5[1][0]`,
        `kvGroupsRepeat@${A}/Mul_7[1][0]`,
      ].sort(),
    );
  });

  it('TorchScript with cache: past/present pairs per layer', () => {
    const model = load(here('torchscript.gqa-fp16-kv.onnx'));
    const spec = recogniseModel(model);
    expect(spec.flavour).toBe('torch.onnx TorchScript exporter, opset 17, float16 weights, KV cache');
    expect(spec.inputs.positionIds).toBe('position_ids');
    checkSpec(model, spec, torchTiny);
    expect(spec.layers.map((l) => l.kvCache?.presentValue)).toEqual(['present.0.value', 'present.1.value']);
  });

  it('dynamo without cache: a shape Concat shared by both layers is named with the op that uses it', () => {
    const model = load(here('dynamo.gqa-fp32.onnx'));
    const spec = recogniseModel(model);
    expect(spec.flavour).toBe('torch.onnx dynamo exporter, opset 20, float32 weights, no KV cache');
    checkSpec(model, spec, torchTiny);
    // node_Concat_180 = Concat(batch, 2, 2, seq, 16) feeds the repeat_kv Expands of k and v in every layer
    const l1 = uses(spec.layers[1]!);
    expect(l1).toContain('numKvHeads@node_Concat_180[1][0]->node_expand_4[1]');
    expect(l1).toContain('kvGroupsRepeat@node_Concat_180[2][0]->node_expand_5[2]');
    expect(l1).toContain('numHeads@node_Concat_186[1][0]->node__unsafe_view_3[1]');
    expect(l1).toHaveLength(6);
  });

  it('dynamo with cache', () => {
    const model = load(here('dynamo.gqa-fp16-kv.onnx'));
    const spec = recogniseModel(model);
    expect(spec.flavour).toBe('torch.onnx dynamo exporter, opset 20, float16 weights, KV cache');
    checkSpec(model, spec, torchTiny);
    expect(uses(spec.layers[0]!)).toEqual(
      [
        'numKvHeads@node_Concat_198[1][0]->node_expand_2[1]',
        'kvGroupsRepeat@node_Concat_198[2][0]->node_expand_2[2]',
        'numHeads@node_Concat_204[1][0]->node__unsafe_view[1]',
        'numKvHeads@node_Concat_231[1][0]->node_expand_3[1]',
        'kvGroupsRepeat@node_Concat_231[2][0]->node_expand_3[2]',
        'numHeads@node_Concat_237[1][0]->node__unsafe_view_1[1]',
      ].sort(),
    );
  });
});

describe('graphs from our own exporter', () => {
  const dir = tempDir('llm-bip-recognise-');
  afterAll(dir.cleanup);
  const base = { seed: 7, hiddenSize: 64, numLayers: 2, numHeads: 4, intermediateSize: 96, vocabSize: 128, rmsNormEps: 1e-6 };
  const cases: Array<[string, TinyLlamaShape, 'float32' | 'float16', boolean]> = [
    ['MHA fp32', { ...base, numKvHeads: 4 }, 'float32', false],
    ['GQA fp16 + KV cache, tied embeddings', { ...base, numKvHeads: 2, tieEmbeddings: true }, 'float16', true],
    ['GQA fp32 + KV cache', { ...base, numKvHeads: 2 }, 'float32', true],
    ['MQA fp16', { ...base, numKvHeads: 1 }, 'float16', false],
  ];
  it.each(cases)('%s', async (name, shape, dtype, kvCache) => {
    const t = await buildTinyLlama(shape, { dir: join(dir.dir, name.replace(/\W+/g, '_')), dtype, kvCache });
    const model = load(t.onnxPath);
    const spec = recogniseModel(model);
    expect(spec.recogniser).toBe('llm-bip-export');
    expect(spec.weightType).toBe(dtype);
    expect(spec.kvCache).toBe(kvCache);
    expect(spec.tiedEmbeddings).toBe(shape.tieEmbeddings ?? false);
    if (shape.tieEmbeddings) expect(spec.lmHead).toMatchObject({ weight: spec.embedding.weight, outAxis: 0 });
    checkSpec(model, spec, { ...shape, headDim: shape.hiddenSize / shape.numHeads, rmsNormEps: 1e-6 });
    const roles = spec.layers[0]!.shapeUses.map((u) => u.role).sort();
    // q/k/v head splits + context merge; with GQA, repeat_kv's Expand (n_rep) and merge (heads) for k and v
    const gqa = shape.numKvHeads < shape.numHeads ? ['kvGroupsRepeat', 'kvGroupsRepeat', 'numHeads', 'numHeads'] : [];
    expect(roles).toEqual(['numHeads', 'numKvHeads', 'numKvHeads', 'qWidth', ...gqa].sort());
  });
});

/** Replace node `name` in a copy of the model. */
function edit(model: ModelProto, f: (nodes: NodeProto[], ix: GraphIndex) => void): ModelProto {
  const copy = cloneModel(model);
  f(copy.graph!.node!, new GraphIndex(copy.graph!));
  return copy;
}

describe('unsupported graphs name the missing pattern and where the search stopped', () => {
  let ts: ModelProto;
  beforeAll(() => {
    ts = load(fixtures.torchscript);
  });

  it("layer 3's Softmax removed", () => {
    const bad = edit(ts, (nodes, ix) => {
      const sm = ix.requireNode('/m/model/layers.3/self_attn/Softmax');
      // rewire the Softmax's readers to its input, then drop it
      for (const u of ix.consumers(sm.output![0]!)) u.node.input![u.input] = sm.input![0]!;
      nodes.splice(nodes.indexOf(sm), 1);
    });
    const err = (() => {
      try {
        recogniseModel(bad);
      } catch (e) {
        return e;
      }
    })() as UnsupportedGraphError;
    expect(err).toBeInstanceOf(UnsupportedGraphError);
    expect(err.stoppedAt).toBe('/m/model/layers.3/self_attn/q_proj/MatMul');
    expect(err.message).toContain("Softmax fed by the projections found in layer 3's attention: search stopped at node /m/model/layers.3/self_attn/q_proj/MatMul");
    expect(err.attempts.map((a) => `${a.recogniser}:${a.outcome}`)).toEqual(['llm-bip-export:skipped', 'genai-builder:skipped', 'torch-onnx:failed']);
  });

  it("layer 3's post-attention RMSNorm Pow replaced", () => {
    const bad = edit(ts, (_nodes, ix) => {
      ix.requireNode('/m/model/layers.3/post_attention_layernorm/Pow').opType = 'Abs';
    });
    expect(() => recogniseModel(bad)).toThrowError(
      "no RMSNorm (Pow -> ReduceMean -> Add -> Sqrt -> Div -> Mul) found feeding layer 3's MLP: search stopped at node /m/model/layers.3/Add",
    );
  });

  it("an unexplained constant equal to a width in layer 0's attention", () => {
    // a round trip through [b, s, 256] after the q head split: element 2 is q width, at a position no exporter uses
    const dy = load(fixtures.dynamo);
    const bad = edit(dy, (nodes, ix) => {
      const split = ix.requireNode('node_Reshape_838');
      const flat: NodeProto = { name: 'test_flatten_q', opType: 'Reshape', input: [split.output![0]!, 'val_723'], output: ['test_flat_q'] };
      const back: NodeProto = { name: 'test_unflatten_q', opType: 'Reshape', input: ['test_flat_q', 'val_720'], output: ['test_unflat_q'] };
      for (const u of ix.consumers(split.output![0]!)) u.node.input![u.input] = 'test_unflat_q';
      nodes.splice(nodes.indexOf(split) + 1, 0, flat, back);
    });
    expect(() => recogniseModel(bad)).toThrowError(/meaning of constant 256 \(equal to the layer's qWidth\) at element 2 of Reshape "test_flatten_q" input 1/);
  });

  it('unnamed nodes', () => {
    const bad = edit(ts, (nodes) => {
      nodes[7]!.name = '';
    });
    expect(() => recogniseModel(bad)).toThrowError(/unique node names \(a ModelSpec refers to nodes by name; a \w+ node has none\)/);
  });

  it('a graph with no decoder at all', () => {
    const empty: ModelProto = { irVersion: 8, opsetImport: [{ domain: '', version: 17 }], graph: { name: 'g', node: [], input: [], output: [] } };
    expect(() => recogniseModel(empty)).toThrowError(/no token embedding \(Gather of a \[vocab, hidden\] initializer by the input ids\)/);
  });
});

describe('describeSpec', () => {
  it('counts the parameters the graph holds and prints a table', () => {
    const model = load(fixtures.torchscript);
    const s = describeSpec(recogniseModel(model));
    // every initializer of this export is a weight: their element count is the parameter count
    const total = model.graph!.initializer!.reduce((a, t) => a + tensorDims(t).reduce((x, y) => x * y, 1), 0);
    expect(s.parameters.total).toBe(total);
    expect(s.perLayer).toHaveLength(6);
    expect(s.perLayer[0]).toMatchObject({ numHeads: 8, numKvHeads: 8, headDim: 32, intermediateSize: 704, attentionParams: 4 * 256 * 256, mlpParams: 3 * 256 * 704 });
    const text = formatSpecSummary(s);
    expect(text).toContain('recogniser   torch-onnx (torch.onnx TorchScript exporter');
    expect(text.split('\n').filter((l) => /^\s+\d\s+8\s+8\s+32\s+704\s/.test(l))).toHaveLength(6);
  });
});

/** Every integer constant element read by nodes whose name starts with `prefix`. */
function constantsUnder(model: ModelProto, prefix: string) {
  const ix = new GraphIndex(model.graph!);
  const out: Array<{ node: string; op: string; input: number; element: number; value: number }> = [];
  for (const n of ix.nodes) {
    if (!(n.name ?? '').startsWith(prefix) || n.opType === 'Constant') continue;
    (n.input ?? []).forEach((name, input) => {
      const t = name ? ix.constantTensor(name) : undefined;
      if (!t || (t.dataType !== 7 && t.dataType !== 6)) return;
      inlineTensorIntegers(t).forEach((value, element) => out.push({ node: n.name!, op: n.opType!, input, element, value }));
    });
  }
  return out;
}

describe("independent scan: no head count or width hides in a layer's attention constants", () => {
  it('TorchScript fixture: no constant under /m/model/layers.N/self_attn/ equals 8 (heads) or 256 (q/kv width)', () => {
    const model = load(fixtures.torchscript);
    for (let i = 0; i < 6; i++) {
      const found = constantsUnder(model, `/m/model/layers.${i}/self_attn/`);
      expect(found.length).toBeGreaterThan(20); // the scan sees the Concat pieces, Slice bounds, Gather indices
      expect(found.filter((c) => c.value === 8 || c.value === 256)).toEqual([]);
    }
  });

  it('llm-bip export, GQA: every constant equal to a head count or width is a listed ShapeUse or an Unsqueeze axis', async () => {
    const d = tempDir('llm-bip-recognise-scan-');
    try {
      // 8 heads, 2 KV heads, head_dim 8: heads 8, kv 2, repeat 4, widths 64 and 16; head_dim collides with the head count
      const t = await buildTinyLlama({ seed: 2, hiddenSize: 64, numLayers: 2, numHeads: 8, numKvHeads: 2, intermediateSize: 80, vocabSize: 96 }, { dir: d.dir, dtype: 'float32', kvCache: true });
      const model = load(t.onnxPath);
      const spec = recogniseModel(model);
      for (const l of spec.layers) {
        const listed = new Set(l.shapeUses.map((u) => `${u.node}|${u.input}|${u.element}`));
        const suspicious = new Set([l.numHeads, l.numKvHeads, l.numHeads * l.headDim, l.numKvHeads * l.headDim, l.numHeads / l.numKvHeads]);
        const hits = constantsUnder(model, `/model/layers.${l.index}/self_attn/`).filter((c) => suspicious.has(c.value));
        expect(hits.length).toBeGreaterThanOrEqual(l.shapeUses.length);
        for (const c of hits) {
          // explained: a listed ShapeUse; an axis; head_dim (8, equal to the head count here: told apart by position)
          // as the last element of a [b, s|heads, heads|t, head_dim] Reshape; rotate_half's split of head_dim into halves (4 = n_rep)
          const ok =
            listed.has(`${c.node}|${c.input}|${c.element}`) ||
            (c.op === 'Unsqueeze' && c.input === 1) ||
            (c.op === 'Reshape' && c.element === 3 && c.value === l.headDim) ||
            (c.op === 'Split' && c.input === 1 && c.value === l.headDim / 2);
          expect(ok, `${c.op} ${c.node} input ${c.input} element ${c.element} = ${c.value}`).toBe(true);
        }
        expect(l.shapeUses).toHaveLength(8);
      }
    } finally {
      d.cleanup();
    }
  });
});

describe('weight storage variants', () => {
  const dir = tempDir('llm-bip-recognise-w-');
  afterAll(dir.cleanup);
  const shape = { seed: 5, hiddenSize: 64, numLayers: 2, numHeads: 4, numKvHeads: 2, intermediateSize: 96, vocabSize: 128, rmsNormEps: 1e-6 };
  const expected = { ...shape, headDim: 16 };

  it('a weight stored [out, in] behind a Transpose has outAxis 0; one behind a Cast keeps its storage name', async () => {
    const t = await buildTinyLlama(shape, { dir: join(dir.dir, 'ops'), dtype: 'float32', kvCache: false });
    const { model, qWeight, upWeight } = moveWeightsBehindOps(load(t.onnxPath), 1);
    const spec = recogniseModel(model);
    expect(spec.layers[1]!.q).toEqual({ node: '/model/layers.1/self_attn/q_proj/MatMul', weight: qWeight, outAxis: 0 });
    expect(spec.layers[1]!.up).toEqual({ node: '/model/layers.1/mlp/up_proj/MatMul', weight: upWeight, outAxis: 1 });
    checkSpec(model, spec, expected);
  });

  it('bfloat16 weights', async () => {
    const t = await buildTinyLlama(shape, { dir: join(dir.dir, 'bf16'), dtype: 'float32', kvCache: false });
    const model = load(t.onnxPath);
    for (const w of model.graph!.initializer!) {
      if (tensorDims(w).length !== 2) continue;
      const b = float32ToBfloat16(bytesToFloat32(inlineTensorBytes(w), w.dataType ?? 0));
      w.dataType = DataType.BFLOAT16;
      w.rawData = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    }
    const spec = recogniseModel(model);
    expect(spec.weightType).toBe('bfloat16');
    checkSpec(model, spec, expected);
  });

  it('Gemm: transB flips the out axis, C is the bias; MatMul + Add of a 1-D initializer is a bias too', () => {
    const f = (name: string, dims: number[]) => ({ name, dataType: DataType.FLOAT, dims, rawData: new Uint8Array(dims.reduce((a, b) => a * b, 1) * 4) });
    const graph = {
      name: 'g',
      input: [{ name: 'x' }],
      output: [{ name: 'y1' }, { name: 'y2' }, { name: 'y3' }],
      initializer: [f('w_out_in', [8, 4]), f('w_in_out', [4, 8]), f('b', [8])],
      node: [
        { name: 'gemm_t', opType: 'Gemm', input: ['x', 'w_out_in', 'b'], output: ['y1'], attribute: [{ name: 'transB', type: 2, i: 1 }] },
        { name: 'gemm', opType: 'Gemm', input: ['x', 'w_in_out'], output: ['y2'] },
        { name: 'mm', opType: 'MatMul', input: ['x', 'w_in_out'], output: ['mm_out'] },
        { name: 'mm_bias', opType: 'Add', input: ['mm_out', 'b'], output: ['y3'] },
      ],
    };
    const ix = new GraphIndex(graph);
    const gt = matchLinear(ix, ix.requireNode('gemm_t'))!;
    expect(gt.ref).toEqual({ node: 'gemm_t', weight: 'w_out_in', outAxis: 0, bias: 'b' });
    expect([gt.outFeatures, gt.inFeatures, gt.output]).toEqual([8, 4, 'y1']);
    expect(matchLinear(ix, ix.requireNode('gemm'))!.ref).toEqual({ node: 'gemm', weight: 'w_in_out', outAxis: 1 });
    const mm = matchLinear(ix, ix.requireNode('mm'))!;
    expect(mm.ref).toEqual({ node: 'mm', weight: 'w_in_out', outAxis: 1, bias: 'b' });
    expect(mm.output).toBe('y3');
    expect(matchLinear(ix, ix.requireNode('mm_bias'))).toBeUndefined();
  });

  it('a 32-layer graph is recognised quickly', async () => {
    const t = await buildTinyLlama({ ...shape, hiddenSize: 32, numHeads: 2, numKvHeads: 1, intermediateSize: 32, numLayers: 32 }, { dir: join(dir.dir, 'deep'), dtype: 'float32', kvCache: true });
    const model = load(t.onnxPath);
    const t0 = performance.now();
    const spec = recogniseModel(model);
    const ms = performance.now() - t0;
    expect(spec.numLayers).toBe(32);
    expect(ms).toBeLessThan(3000);
  });
});

describe('genai-builder-style graphs with GQA (4 heads, 2 KV heads)', () => {
  const shape = { layers: 2, hidden: 64, numHeads: 4, numKvHeads: 2, headDim: 16, inter: 96, vocab: 128, seed: 11 };
  const expected = { numLayers: 2, hiddenSize: 64, numHeads: 4, numKvHeads: 2, headDim: 16, intermediateSize: 96, vocabSize: 128, rmsNormEps: 1e-6 };

  it('packed qkv_proj: q | k | v column ranges of unequal widths', () => {
    const model = buildGenaiLike({ ...shape, packed: true });
    const spec = recogniseModel(model);
    expect(spec.recogniser).toBe('genai-builder');
    checkSpec(model, spec, expected);
    const l = spec.layers[1]!;
    expect([l.q.columns, l.k.columns, l.v.columns]).toEqual([
      { start: 0, end: 64 },
      { start: 64, end: 96 },
      { start: 96, end: 128 },
    ]);
    expect(l.attributeUses.map((a) => a.role)).toEqual(['numHeads', 'numKvHeads']);
  });

  it('separate q/k/v through RotaryEmbedding nodes: their num_heads are AttributeUses too', () => {
    const model = buildGenaiLike({ ...shape, packed: false });
    const spec = recogniseModel(model);
    expect(spec.flavour).toContain('separate q/k/v');
    checkSpec(model, spec, expected);
    const l = spec.layers[0]!;
    expect(l.q).toEqual({ node: '/model/layers.0/attn/q_proj/MatMul', weight: 'model.layers.0.attn.q_proj.MatMul.weight', outAxis: 1 });
    expect(l.attributeUses).toEqual([
      { node: '/model/layers.0/attn/GroupQueryAttention', attribute: 'num_heads', role: 'numHeads' },
      { node: '/model/layers.0/attn/GroupQueryAttention', attribute: 'kv_num_heads', role: 'numKvHeads' },
      { node: '/model/layers.0/attn/q_rotary/RotaryEmbedding', attribute: 'num_heads', role: 'numHeads' },
      { node: '/model/layers.0/attn/k_rotary/RotaryEmbedding', attribute: 'num_heads', role: 'numKvHeads' },
    ]);
  });
});
