/** The exported graph's layout: the names and constants recognisers, scoring and surgery rely on. */
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, referenceForward, buildTinyLlama, writeTinyHfCheckpoint, type LayerActivations, type TinyLlamaShape } from '@llm-bip/testing';
import { decodeModel, encodeModel, DataType, toNumber, type ModelProto, type TensorProto, inlineTensorIntegers, tensorDims } from '@llm-bip/onnx-io';
import { toHfConfigJson } from '../hf/config.js';
import { loadHfWeightsFloat64, llamaWeightShapes } from '../hf/weights.js';
import { writeSafetensors } from '../hf/safetensors-write.js';
import { buildLlamaOnnx, exportLlamaToOnnx } from './export.js';
import { forwardFeeds, openSession } from './ort.testutil.js';

const tmp = tempDir('llm-bip-graph-');
afterAll(() => tmp.cleanup());

const GQA: TinyLlamaShape = { seed: 7, hiddenSize: 64, numLayers: 2, numHeads: 8, numKvHeads: 2, intermediateSize: 96, vocabSize: 64 };

function load(path: string): ModelProto {
  return decodeModel(new Uint8Array(readFileSync(path)), path);
}
function initializer(m: ModelProto, name: string): TensorProto {
  const t = m.graph!.initializer!.find((i) => i.name === name);
  if (!t) throw new Error(`no initializer ${name}`);
  return t;
}

describe('exported graph layout', () => {
  it('names, weight layout, per-layer head-count constants, metadata, standard ops', async () => {
    const { onnxPath, config } = await buildTinyLlama(GQA, { dir: join(tmp.dir, 'layout'), dtype: 'float32', kvCache: true });
    const m = load(onnxPath);
    const g = m.graph!;
    expect(m.opsetImport!.map((o) => [o.domain, toNumber(o.version)])).toEqual([['', 17]]);
    const meta = Object.fromEntries(m.metadataProps!.map((p) => [p.key, p.value]));
    expect(meta['llm_bip.exporter']).toBe('llm-bip');
    expect(JSON.parse(meta['llm_bip.config']!)).toMatchObject({ numHeads: 8, numKvHeads: 2, headDim: 8, weightLayout: 'in_out', kvCache: true });
    expect(g.input!.map((i) => i.name)).toEqual([
      'input_ids', 'attention_mask', 'position_ids',
      'past_key_values.0.key', 'past_key_values.0.value', 'past_key_values.1.key', 'past_key_values.1.value',
    ]);
    expect(g.output!.map((o) => o.name)).toEqual(['logits', 'present.0.key', 'present.0.value', 'present.1.key', 'present.1.value']);

    const byName = new Map(g.node!.map((n) => [n.name!, n]));
    const { hiddenSize: h, intermediateSize: I } = config;
    for (let i = 0; i < config.numLayers; i++) {
      const proj: Array<[string, string, number[]]> = [
        [`/model/layers.${i}/self_attn/q_proj/MatMul`, `model.layers.${i}.self_attn.q_proj.weight`, [h, 64]],
        [`/model/layers.${i}/self_attn/k_proj/MatMul`, `model.layers.${i}.self_attn.k_proj.weight`, [h, 16]],
        [`/model/layers.${i}/self_attn/v_proj/MatMul`, `model.layers.${i}.self_attn.v_proj.weight`, [h, 16]],
        [`/model/layers.${i}/self_attn/o_proj/MatMul`, `model.layers.${i}.self_attn.o_proj.weight`, [64, h]],
        [`/model/layers.${i}/mlp/gate_proj/MatMul`, `model.layers.${i}.mlp.gate_proj.weight`, [h, I]],
        [`/model/layers.${i}/mlp/up_proj/MatMul`, `model.layers.${i}.mlp.up_proj.weight`, [h, I]],
        [`/model/layers.${i}/mlp/down_proj/MatMul`, `model.layers.${i}.mlp.down_proj.weight`, [I, h]],
      ];
      for (const [node, weight, dims] of proj) {
        expect(byName.get(node)?.opType).toBe('MatMul');
        expect(byName.get(node)!.input![1]).toBe(weight);
        expect(tensorDims(initializer(m, weight))).toEqual(dims); // [in, out]
      }
      const consts: Array<[string, number[]]> = [
        [`/model/layers.${i}/self_attn/q_shape`, [0, 0, 8, 8]],
        [`/model/layers.${i}/self_attn/k_shape`, [0, 0, 2, 8]],
        [`/model/layers.${i}/self_attn/v_shape`, [0, 0, 2, 8]],
        [`/model/layers.${i}/self_attn/key_repeat`, [1, 1, 4, 1, 1]],
        [`/model/layers.${i}/self_attn/key_repeat_shape`, [0, 8, -1, 8]],
        [`/model/layers.${i}/self_attn/context_shape`, [0, 0, 64]],
      ];
      for (const [name, values] of consts) {
        expect(inlineTensorIntegers(initializer(m, name))).toEqual(values);
        expect(g.node!.filter((n) => n.input!.includes(name))).toHaveLength(1); // one use each: surgery rewrites it per layer
      }
    }
    const ops = new Set(g.node!.map((n) => n.opType));
    expect(g.node!.every((n) => !n.domain)).toBe(true);
    expect([...ops].sort()).toEqual(
      ['Add', 'And', 'Cast', 'Concat', 'Cos', 'Div', 'Expand', 'Gather', 'LessOrEqual', 'MatMul', 'Mul', 'Neg', 'Pow', 'Range', 'ReduceMean', 'Reshape', 'Shape', 'Sigmoid', 'Sin', 'Softmax', 'Split', 'Sqrt', 'Sub', 'Transpose', 'Unsqueeze', 'Where'].sort(),
    );
  });

  it('in-memory build is deterministic and equals the file export byte for byte', async () => {
    const dir = join(tmp.dir, 'determinism');
    const { onnxPath, hfDir } = await buildTinyLlama({ ...GQA, tieEmbeddings: true }, { dir, dtype: 'float16', kvCache: false });
    const { config, weights } = await loadHfWeightsFloat64(hfDir);
    const a = encodeModel(buildLlamaOnnx(config, weights, { dtype: 'float16', kvCache: false }));
    const b = encodeModel(buildLlamaOnnx(config, (n) => weights.get(n)!, { dtype: 'float16', kvCache: false }));
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    expect(Buffer.from(a).equals(readFileSync(onnxPath))).toBe(true);
    expect(load(onnxPath).graph!.initializer!.some((t) => t.name === 'lm_head.weight')).toBe(false); // tied: one matrix
  });

  it('builds a 2-layer hidden-64 tiny model in under a second', async () => {
    await buildTinyLlama(GQA, { dir: join(tmp.dir, 'warm'), dtype: 'float32', kvCache: false });
    const t0 = performance.now();
    await buildTinyLlama(GQA, { dir: join(tmp.dir, 'timed'), dtype: 'float32', kvCache: true });
    const ms = performance.now() - t0;
    console.log(`[tiny] buildTinyLlama 2 layers, hidden 64: ${ms.toFixed(0)} ms`);
    expect(ms).toBeLessThan(1000);
  });
});

describe('reference capture == ONNX intermediate tensors', () => {
  it('x, z (o_proj input), m, s (down_proj input), y match the exported graph', async () => {
    const { onnxPath, hfDir } = await buildTinyLlama(GQA, { dir: join(tmp.dir, 'capture'), dtype: 'float32', kvCache: false });
    const { config, weights } = await loadHfWeightsFloat64(hfDir);
    const m = load(onnxPath);
    const taps: Record<string, keyof LayerActivations> = {
      '/model/layers.1/input_layernorm/Mul_weight_output_0': 'attnNormOut',
      '/model/layers.1/self_attn/q_proj/MatMul_output_0': 'q',
      '/model/layers.1/self_attn/Reshape_context_output_0': 'z',
      '/model/layers.1/Add_attention_residual_output_0': 'm',
      '/model/layers.1/mlp/gate_proj/MatMul_output_0': 'g',
      '/model/layers.1/mlp/Mul_gate_up_output_0': 's',
      '/model/layers.1/Add_mlp_residual_output_0': 'y',
    };
    m.graph!.output!.push(...Object.keys(taps).map((name) => ({ name, type: { tensorType: { elemType: DataType.FLOAT } } })));
    const tapped = join(tmp.dir, 'capture', 'tapped.onnx');
    writeFileSync(tapped, encodeModel(m));
    const ids = [[3, 14, 15, 9, 26, 5]];
    const session = await openSession(tapped);
    const out = await session.run(forwardFeeds(ids));
    await session.release();
    let acts: LayerActivations | undefined;
    referenceForward(config, weights, ids, { capture: (layer, a) => layer === 1 && (acts = a) });
    for (const [name, key] of Object.entries(taps)) {
      const got = out[name]!.data as Float32Array;
      const want = acts![key];
      expect(got.length).toBe(want.length);
      let err = 0;
      let scale = 0;
      for (let i = 0; i < got.length; i++) {
        err = Math.max(err, Math.abs(got[i]! - want[i]!));
        scale = Math.max(scale, Math.abs(want[i]!));
      }
      expect(err / scale, key).toBeLessThanOrEqual(1e-5);
    }
  });
});

describe('export errors', () => {
  it('a checkpoint missing a tensor fails before writing, and leaves no file behind', async () => {
    const dir = join(tmp.dir, 'broken');
    const hfDir = join(dir, 'hf');
    const config = await writeTinyHfCheckpoint(GQA, hfDir, 'float32');
    // rewrite the checkpoint without one tensor
    const shapes = llamaWeightShapes(config).filter((w) => w.name !== 'model.layers.1.mlp.up_proj.weight');
    await writeSafetensors(
      join(hfDir, 'model.safetensors'),
      shapes.map((w) => ({ name: w.name, dtype: 'F32', shape: w.shape, data: new Uint8Array(w.shape.reduce((a, b) => a * b, 1) * 4) })),
    );
    const out = join(dir, 'model.onnx');
    await expect(exportLlamaToOnnx(hfDir, out, { dtype: 'float32', kvCache: false, externalData: true })).rejects.toThrow(
      /tensor "model\.layers\.1\.mlp\.up_proj\.weight" is missing/,
    );
    expect(readdirSync(dir)).toEqual(['hf']);
  });

  it('a config that disagrees with the weights names the tensor and both shapes', async () => {
    const dir = join(tmp.dir, 'disagree');
    const hfDir = join(dir, 'hf');
    const config = await writeTinyHfCheckpoint(GQA, hfDir, 'float32');
    writeFileSync(join(hfDir, 'config.json'), JSON.stringify(toHfConfigJson({ ...config, intermediateSize: 100 })));
    await expect(exportLlamaToOnnx(hfDir, join(dir, 'm.onnx'), { dtype: 'float32', kvCache: false })).rejects.toThrow(
      /"model\.layers\.0\.mlp\.gate_proj\.weight" has shape \[96,64\] but config\.json implies \[100,64\]/,
    );
    expect(existsSync(join(dir, 'm.onnx'))).toBe(false);
  });

  it('unsupported families (MoE) and missing output folders are refused clearly, before any output', async () => {
    const hfDir = join(tmp.dir, 'mixtral', 'hf');
    await writeTinyHfCheckpoint(GQA, hfDir, 'float32');
    const out = join(tmp.dir, 'mixtral', 'm.onnx');
    await expect(exportLlamaToOnnx(hfDir, join(tmp.dir, 'no/such/dir/m.onnx'), { dtype: 'float32', kvCache: false })).rejects.toThrow(/folder .* does not exist/);
    const cfg = JSON.parse(readFileSync(join(hfDir, 'config.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(hfDir, 'config.json'), JSON.stringify({ ...cfg, model_type: 'mixtral', num_local_experts: 8 }));
    await expect(exportLlamaToOnnx(hfDir, out, { dtype: 'float32', kvCache: false })).rejects.toThrow(/model_type "mixtral" is not supported: it has a mixture-of-experts MLP/);
    writeFileSync(join(hfDir, 'config.json'), JSON.stringify({ ...cfg, model_type: 'gpt_neox' }));
    await expect(exportLlamaToOnnx(hfDir, out, { dtype: 'float32', kvCache: false })).rejects.toThrow(/model_type is "gpt_neox"; supported: "llama", "mistral", "qwen2", "qwen3", "phi3", "gemma"/);
    expect(existsSync(out)).toBe(false);
  });
});
