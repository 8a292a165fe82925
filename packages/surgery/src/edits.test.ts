import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { tensorDims } from '@llm-bip/onnx-io';
import { range, type ModelSpec } from '@llm-bip/model';
import { tempDir } from '@llm-bip/testing';
import { planEdits } from './edits.js';
import { GQA, randomPlan, tinyCase, type TinyCase } from './surgery.testutil.js';

const tmp = tempDir('llm-bip-surgery-edits-');
afterAll(() => tmp.cleanup());
let c: TinyCase;
beforeAll(async () => {
  c = await tinyCase(join(tmp.dir, 'm'), GQA, 'float32', true);
});

const dimsOf = (c: TinyCase) => (name: string) => tensorDims(c.loaded.model.graph!.initializer!.find((t) => t.name === name)!);

describe('planEdits', () => {
  it('slices a fused q|k|v weight and its bias by column ranges, keeping the layout', () => {
    // present layer 0 as a genai-style fused projection: q, k, v are column ranges of one [64, 96] weight with a bias
    const spec: ModelSpec = structuredClone(c.spec);
    const l = spec.layers[0]!;
    const fused = { node: l.q.node, weight: 'qkv', outAxis: 1 as const, bias: 'qkv_bias' };
    l.q = { ...fused, columns: { start: 0, end: 64 } };
    l.k = { ...fused, columns: { start: 64, end: 80 } };
    l.v = { ...fused, columns: { start: 80, end: 96 } };
    const plan = randomPlan(spec, 3);
    plan.layers[0] = { layer: 0, keepKvHeads: [1], keepHeads: [4, 5, 6, 7], keepChannels: range(80) };
    const dims = (n: string) => (n === 'qkv' ? [64, 96] : n === 'qkv_bias' ? [96] : dimsOf(c)(n));
    const edits = planEdits(spec, plan, dims);
    const q = range(32).map((i) => 32 + i); // heads 4..7 of head_dim 8
    const k = range(8).map((i) => 64 + 8 + i); // KV head 1
    const v = range(8).map((i) => 80 + 8 + i);
    expect(edits.slices.find((s) => s.tensor === 'qkv')).toEqual({ tensor: 'qkv', axis: 1, size: 96, keep: [...q, ...k, ...v] });
    expect(edits.slices.find((s) => s.tensor === 'qkv_bias')).toEqual({ tensor: 'qkv_bias', axis: 0, size: 96, keep: [...q, ...k, ...v] });
    // o_proj loses the input rows of heads 0..3
    expect(edits.slices.find((s) => s.tensor === l.o.weight)!.keep).toEqual(q.map((i) => i));
  });

  it('turns empty blocks into bypasses and emptied caches, and skips untouched layers', () => {
    const plan = randomPlan(c.spec, 4, { zeroHeads: [0], zeroChannels: [0] });
    plan.layers[2] = { layer: 2, keepHeads: range(8), keepKvHeads: range(2), keepChannels: range(80) };
    const edits = planEdits(c.spec, plan, dimsOf(c));
    expect(edits.graph.filter((e) => e.layer === 0).map((e) => e.kind).sort()).toEqual(['bypass', 'bypass', 'empty-kv-cache']);
    expect(edits.graph.some((e) => e.layer === 2)).toBe(false);
    expect(edits.slices.some((s) => s.tensor.includes('layers.2.'))).toBe(false);
    expect(edits.slices.some((s) => s.tensor.includes('layers.0.'))).toBe(false); // dead weights are dropped, not sliced
  });
});
