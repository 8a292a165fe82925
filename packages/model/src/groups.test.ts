import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildTinyLlama, fixtures, tempDir } from '@llm-bip/testing';
import { decodeModel, loadModel, tensorDims, type ModelProto } from '@llm-bip/onnx-io';
import { countParameters, groupOf, groupParameters, groupsOf, layerGroups, planGroupSource, type GroupSource } from './groups.js';
import { planModelShape } from './plan.js';
import { recogniseModel } from './recognise/index.js';
import type { ModelSpec } from './spec.js';

const tmp = tempDir('llm-bip-groups-');
afterAll(() => tmp.cleanup());

const span = (a: number, n: number) => Array.from({ length: n }, (_, i) => a + i);

async function tinyGqa(): Promise<{ model: ModelProto; spec: ModelSpec }> {
  const t = await buildTinyLlama({ seed: 4, hiddenSize: 64, numLayers: 2, numHeads: 8, numKvHeads: 2, headDim: 8, intermediateSize: 80, vocabSize: 97 }, { dir: join(tmp.dir, 'gqa'), dtype: 'float32', kvCache: false });
  const { model } = await loadModel(t.onnxPath);
  return { model, spec: recogniseModel(model) };
}

/**
 * The groups of a layer must tile the model's weights: every index of every sliced axis belongs to
 * exactly one group (a fused weight's columns to exactly one of q/k/v), and the parameters add up to
 * the elements of the projection weights and biases as stored.
 */
function expectTiling(model: ModelProto, spec: GroupSource): void {
  const dims = new Map((model.graph!.initializer ?? []).map((t) => [t.name!, tensorDims(t)]));
  for (const lg of groupsOf(spec)) {
    const seen = new Map<string, { axis: number; hits: number[] }>();
    let params = 0;
    for (const g of [...lg.heads, ...lg.channels]) {
      params += g.parameters;
      for (const s of g.slices) {
        const d = dims.get(s.tensor)!;
        expect(d, s.tensor).toBeDefined();
        // perIndex is the size of the tensor's other axes
        expect(s.perIndex).toBe(d.reduce((a, b) => a * b, 1) / d[s.axis]!);
        const e = seen.get(`${s.tensor}|${s.axis}`) ?? { axis: s.axis, hits: new Array<number>(d[s.axis]!).fill(0) };
        for (const i of s.indices) e.hits[i]!++;
        seen.set(`${s.tensor}|${s.axis}`, e);
      }
    }
    let stored = 0;
    for (const [key, e] of seen) {
      expect(e.hits.every((h) => h === 1), `${key}: every index owned once`).toBe(true);
      const d = dims.get(key.split('|')[0]!)!;
      stored += d.reduce((a, b) => a * b, 1);
    }
    expect(params).toBe(stored);
  }
}

describe('groupsOf', () => {
  it('gives the worked example of its doc comment', async () => {
    const { spec } = await tinyGqa();
    const g = groupOf(spec, 0, 'heads', 1);
    expect(g).toEqual({
      layer: 0,
      kind: 'kv-group',
      index: 1,
      heads: [4, 5, 6, 7],
      parameters: 64 * (32 + 8 + 8 + 32),
      slices: [
        { role: 'q', tensor: 'model.layers.0.self_attn.q_proj.weight', axis: 1, indices: span(32, 32), perIndex: 64 },
        { role: 'k', tensor: 'model.layers.0.self_attn.k_proj.weight', axis: 1, indices: span(8, 8), perIndex: 64 },
        { role: 'v', tensor: 'model.layers.0.self_attn.v_proj.weight', axis: 1, indices: span(8, 8), perIndex: 64 },
        { role: 'o', tensor: 'model.layers.0.self_attn.o_proj.weight', axis: 0, indices: span(32, 32), perIndex: 64 },
      ],
    });
    expect(groupOf(spec, 1, 'channels', 5).slices.map((s) => [s.role, s.tensor, s.axis, s.indices])).toEqual([
      ['gate', 'model.layers.1.mlp.gate_proj.weight', 1, [5]],
      ['up', 'model.layers.1.mlp.up_proj.weight', 1, [5]],
      ['down', 'model.layers.1.mlp.down_proj.weight', 0, [5]],
    ]);
    // plain JSON: survives a round trip
    expect(JSON.parse(JSON.stringify(groupsOf(spec)))).toEqual(groupsOf(spec));
  });

  it('tiles the weights of our export, and the plan-shape source names them the same', async () => {
    const { model, spec } = await tinyGqa();
    expectTiling(model, spec);
    expect(groupsOf(planGroupSource(planModelShape(spec, '')))).toEqual(groupsOf(spec));
  });

  it('tiles a fused qkv_proj (genai builder fixture): q, k, v column ranges of one weight', () => {
    const model = decodeModel(readFileSync(fixtures.genai), fixtures.genai);
    const spec = recogniseModel(model);
    expect(spec.layers[0]!.q.columns).toBeDefined();
    expectTiling(model, spec);
    const g = groupOf(spec, 0, 'heads', 0);
    const [q, k, v] = g.slices;
    expect(new Set([q!.tensor, k!.tensor, v!.tensor]).size).toBe(1);
    expect(k!.indices[0]).toBe(spec.layers[0]!.k.columns!.start);
  });

  it('counts parameters as the sum over groups, and refuses groups that do not exist', async () => {
    const { spec } = await tinyGqa();
    const counts = countParameters(spec);
    const all = groupsOf(spec);
    expect(counts.attention).toBe(all.flatMap((l) => l.heads).reduce((a, g) => a + g.parameters, 0));
    expect(counts.mlp).toBe(all.flatMap((l) => l.channels).reduce((a, g) => a + g.parameters, 0));
    // the LLaMA formula: q and o 64 x 64, k and v 64 x 16, gate/up/down 64 x 80, per layer
    expect(counts.attention).toBe(2 * (2 * 64 * 64 + 2 * 64 * 16));
    expect(counts.mlp).toBe(2 * 3 * 64 * 80);
    expect(groupParameters(spec, 1, 1, 0)).toEqual({ attention: 64 * 80, mlp: 0 });
    expect(() => groupOf(spec, 0, 'heads', 2)).toThrow(/KV heads 0..1, not 2/);
    expect(() => groupOf(spec, 2, 'channels', 0)).toThrow(/layer 2 is not among the layers 0, 1/);
    // a spec restricted to one block (the sequential pass scores block by block) finds its layer by index
    const one = { ...spec, layers: [spec.layers[1]!] };
    expect(layerGroups(one, 1)).toEqual(layerGroups(spec, 1));
    expect(() => groupOf(one, 0, 'heads', 0)).toThrow(/layer 0 is not among the layers 1/);
  });
});
