/**
 * genai_config.json of a pruned onnxruntime-genai builder model, checked against the pruned graph
 * itself: GroupQueryAttention attributes, KV-cache inputs and outputs, weight shapes, and what the
 * recogniser reads from the graph. (onnxruntime-genai itself is not on npm, so it does not run here.)
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel, tensorDims } from '@llm-bip/onnx-io';
import { range, recogniseModel, type ModelSpec, type PruningPlan } from '@llm-bip/model';
import { createSession, greedyDecode } from '@llm-bip/runtime';
import { fixtures, hasShared, tempDir } from '@llm-bip/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pruneModel } from './index.js';
import { randomPlan } from './surgery.testutil.js';

const tmp = tempDir('llm-bip-genai-config-');
afterAll(() => tmp.cleanup());

type Json = Record<string, unknown>;
const readJson = (p: string): Json => JSON.parse(readFileSync(p, 'utf8')) as Json;
const decoderOf = (c: Json) => (c['model'] as Json)['decoder'] as Json;
const attr = (n: { attribute?: Array<{ name?: string | null; i?: unknown }> | null }, name: string) => Number(n.attribute?.find((a) => a.name === name)?.i);

/** Every layer keeps KV heads 0, 2, 3, 5, 6, 7 (MHA fixture: query heads = KV heads) and the first 500 channels. */
function uniformPlan(spec: ModelSpec): PruningPlan {
  const base = randomPlan(spec, 1);
  return {
    ...base,
    allocation: 'uniform',
    layers: spec.layers.map((l) => ({ layer: l.index, keepKvHeads: [0, 2, 3, 5, 6, 7], keepHeads: [0, 2, 3, 5, 6, 7], keepChannels: range(500) })),
  };
}

describe.runIf(hasShared('fixtures/bip-llama-tiny-onnx/genai/genai_config.json'))('genai_config.json of a pruned genai model', () => {
  let spec: ModelSpec;
  let loaded: Awaited<ReturnType<typeof loadModel>>;
  beforeAll(async () => {
    loaded = await loadModel(fixtures.genai);
    spec = recogniseModel(loaded.model);
  });

  it('uniform heads: written beside the model, every shape field equal to the pruned graph', async () => {
    const out = join(tmp.dir, 'uniform');
    const r = await pruneModel({ model: loaded, spec, plan: uniformPlan(spec), outPath: join(out, 'model.onnx') });
    expect(r.genaiConfigPath).toBe(join(out, 'genai_config.json'));
    expect(r.genaiConfigSkipped).toBeUndefined();
    const input = readJson(join(fixtures.genai, '..', 'genai_config.json'));
    const config = readJson(r.genaiConfigPath!);
    const d = decoderOf(config);

    // genai's parser rejects unknown fields: the same keys as the builder wrote, at every level
    expect(Object.keys(config).sort()).toEqual(Object.keys(input).sort());
    expect(Object.keys(config['model'] as Json).sort()).toEqual(Object.keys(input['model'] as Json).sort());
    expect(Object.keys(d).sort()).toEqual(Object.keys(decoderOf(input)).sort());
    expect(config['search']).toEqual(input['search']);

    const pruned = (await loadModel(r.modelPath)).model;
    const g = pruned.graph!;
    // the attention op of every layer: heads and KV heads as the config says
    const gqa = (g.node ?? []).filter((n) => n.opType === 'GroupQueryAttention');
    expect(gqa).toHaveLength(d['num_hidden_layers'] as number);
    for (const n of gqa) {
      expect(attr(n, 'num_heads')).toBe(d['num_attention_heads']);
      expect(attr(n, 'kv_num_heads')).toBe(d['num_key_value_heads']);
    }
    expect(d['num_attention_heads']).toBe(6);
    expect(d['num_key_value_heads']).toBe(6);

    // inputs and outputs genai binds by name, with KV shapes [batch, kv heads, seq, head size]
    const inputs = new Map((g.input ?? []).map((v) => [v.name!, v]));
    const outputs = new Map((g.output ?? []).map((v) => [v.name!, v]));
    const names = (c: Json) => c as Record<string, string>;
    const ins = names(d['inputs'] as Json);
    const outs = names(d['outputs'] as Json);
    expect(inputs.has(ins['input_ids']!) && inputs.has(ins['attention_mask']!)).toBe(true);
    expect(outputs.has(outs['logits']!)).toBe(true);
    const dimsOf = (v: { type?: { tensorType?: { shape?: { dim?: Array<{ dimValue?: unknown; dimParam?: string | null }> | null } | null } | null } | null }) =>
      (v.type?.tensorType?.shape?.dim ?? []).map((x) => (x.dimParam ? x.dimParam : Number(x.dimValue)));
    for (const layer of range(d['num_hidden_layers'] as number)) {
      for (const name of [ins['past_key_names']!, ins['past_value_names']!]) {
        const v = inputs.get(name.replace('%d', String(layer)));
        expect(v, `${name} of layer ${layer}`).toBeDefined();
        const dims = dimsOf(v!);
        // the builder fixes the KV-head dim and leaves head size symbolic ("kv_cache_dim")
        expect(dims[1]).toBe(d['num_key_value_heads']);
        if (typeof dims[3] === 'number') expect(dims[3]).toBe(d['head_size']);
      }
      for (const name of [outs['present_key_names']!, outs['present_value_names']!]) expect(outputs.has(name.replace('%d', String(layer)))).toBe(true);
    }
    expect(inputs.has(ins['past_key_names']!.replace('%d', String(d['num_hidden_layers'])))).toBe(false);
    const logitsDims = dimsOf(outputs.get(outs['logits']!)!);
    expect(logitsDims[logitsDims.length - 1]).toBe((config['model'] as Json)['vocab_size']);

    // the recogniser's independent reading of the pruned graph (weights, not the config)
    const again = recogniseModel(pruned);
    expect(again.layers).toHaveLength(d['num_hidden_layers'] as number);
    expect(again.hiddenSize).toBe(d['hidden_size']);
    expect(again.vocabSize).toBe((config['model'] as Json)['vocab_size']);
    for (const l of again.layers) expect([l.numHeads, l.numKvHeads, l.headDim]).toEqual([d['num_attention_heads'], d['num_key_value_heads'], d['head_size']]);
    // the fused qkv weight holds (heads + 2 kv heads) x head size columns
    for (const layer of range(d['num_hidden_layers'] as number)) {
      const matmul = (g.node ?? []).find((n) => n.name === `/model/layers.${layer}/attn/qkv_proj/MatMul`);
      const weight = (g.initializer ?? []).find((t) => t.name === matmul?.input?.[1]);
      expect(weight, `qkv weight of layer ${layer}`).toBeDefined();
      expect(tensorDims(weight!)).toEqual([d['hidden_size'], ((d['num_attention_heads'] as number) + 2 * (d['num_key_value_heads'] as number)) * (d['head_size'] as number)]);
    }
    expect(d['filename']).toBe('model.onnx');

    // the runtime sizes the KV cache from this file alone (no layout passed): decoding with the cache runs
    const s = await createSession(r.modelPath, { ep: 'cpu' });
    try {
      const withCache = await greedyDecode(s, [[1, 450, 4996, 970]], { maxNewTokens: 4 });
      const without = await greedyDecode(s, [[1, 450, 4996, 970]], { maxNewTokens: 4, useKvCache: false });
      expect(withCache.usedKvCache).toBe(true);
      expect(withCache.tokens).toEqual(without.tokens);
    } finally {
      await s.release();
    }
  });

  it('different KV heads per layer: no genai_config.json, and the reason names the fix', async () => {
    const out = join(tmp.dir, 'varied');
    const r = await pruneModel({ model: loaded, spec, plan: randomPlan(spec, 41), outPath: join(out, 'model.onnx') });
    expect(existsSync(join(out, 'genai_config.json'))).toBe(false);
    expect(r.genaiConfigPath).toBeUndefined();
    expect(r.genaiConfigSkipped).toMatch(/^the layers keep different numbers of KV heads \(per layer: 0: \d, 1: \d.*\), but onnxruntime-genai allocates one KV cache shape .*`llm-bip plan --allocation uniform`\)$/);
    expect(existsSync(r.modelPath)).toBe(true);
  });

  it('a layer without attention: no genai_config.json, the layer named', async () => {
    const out = join(tmp.dir, 'emptied');
    const plan = uniformPlan(spec);
    plan.layers[2] = { ...plan.layers[2]!, keepHeads: [], keepKvHeads: [] };
    const r = await pruneModel({ model: loaded, spec, plan, outPath: join(out, 'model.onnx') });
    expect(existsSync(join(out, 'genai_config.json'))).toBe(false);
    expect(r.genaiConfigSkipped).toMatch(/^layer 2 lost all attention heads \(no KV cache\)/);
  });
});
