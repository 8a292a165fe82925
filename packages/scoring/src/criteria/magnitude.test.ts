/**
 * magnitude reads the group slices of groupsOf (groups.ts). Before that it enumerated q/k/v/o and
 * gate/up/down columns and rows itself; that implementation is kept below as the reference, and the
 * scores must agree to 1e-12 relative on every layout it handled: MatMul [in, out], GQA and MHA, and
 * the genai builder's fused qkv_proj (column ranges of one fp16 weight).
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildTinyLlama, fixtures, tempDir } from '@llm-bip/testing';
import { loadModel } from '@llm-bip/onnx-io';
import { recogniseModel, type ModelSpec } from '@llm-bip/model';
import { STATISTICS_FORMAT, type Statistics } from '../types.js';
import { modelWeights, perInputSum, perOutputSum, square, type WeightSource } from '../weights.js';
import { magnitude } from './magnitude.js';

const tmp = tempDir('scoring-magnitude-');
afterAll(tmp.cleanup);

const noStats: Statistics = { format: STATISTICS_FORMAT, tokens: 0, rows: 0, seqLen: 0, taps: {} };

/** The per-projection implementation magnitude had before groupsOf (commit 90b5fce). */
async function previousMagnitude(weights: WeightSource, spec: ModelSpec): Promise<Array<{ heads: number[]; channels: number[] }>> {
  const layers: Array<{ heads: number[]; channels: number[] }> = [];
  for (const l of spec.layers) {
    const d = l.headDim;
    const rep = l.numHeads / l.numKvHeads;
    const q = perOutputSum(await weights.linear(l.q), square);
    const k = perOutputSum(await weights.linear(l.k), square);
    const v = perOutputSum(await weights.linear(l.v), square);
    const o = perInputSum(await weights.linear(l.o), square);
    const span = (a: Float64Array, from: number, to: number) => a.slice(from, to).reduce((x, y) => x + y, 0);
    const heads = Array.from({ length: l.numKvHeads }, (_, g) => {
      const qFrom = g * rep * d;
      const qTo = (g + 1) * rep * d;
      return Math.sqrt(span(q, qFrom, qTo) + span(o, qFrom, qTo) + span(k, g * d, (g + 1) * d) + span(v, g * d, (g + 1) * d));
    });
    const gate = perOutputSum(await weights.linear(l.gate), square);
    const up = perOutputSum(await weights.linear(l.up), square);
    const down = perInputSum(await weights.linear(l.down), square);
    layers.push({ heads, channels: Array.from(gate, (gk, c) => Math.sqrt(gk + up[c]! + down[c]!)) });
  }
  return layers;
}

function worstRelative(a: number[], b: number[]): number {
  expect(a.length).toBe(b.length);
  return Math.max(...a.map((x, i) => Math.abs(x - b[i]!) / Math.abs(b[i]!)));
}

async function compare(path: string): Promise<ModelSpec> {
  const loaded = await loadModel(path);
  const spec = recogniseModel(loaded.model);
  const weights = modelWeights(loaded.model, loaded.dir);
  const ours = await magnitude.score(noStats, weights, spec);
  const want = await previousMagnitude(weights, spec);
  expect(ours.layers).toHaveLength(spec.numLayers);
  ours.layers.forEach((l, i) => {
    expect(worstRelative(l.heads!, want[i]!.heads)).toBeLessThan(1e-12);
    expect(worstRelative(l.channels!, want[i]!.channels)).toBeLessThan(1e-12);
    // the scores differ between groups: an all-equal bug would not pass as agreement by accident
    expect(new Set(l.channels).size).toBeGreaterThan(1);
  });
  return spec;
}

describe('magnitude over groupsOf slices equals the per-projection implementation', () => {
  it.each([
    ['GQA fp32', 2, 'float32'],
    ['MHA fp16', 4, 'float16'],
  ] as const)('%s export', async (name, kv, dtype) => {
    const t = await buildTinyLlama({ seed: 7, hiddenSize: 32, numLayers: 2, numHeads: 4, numKvHeads: kv, intermediateSize: 40, vocabSize: 64 }, { dir: join(tmp.dir, name), dtype, kvCache: false });
    await compare(t.onnxPath);
  });

  it('genai builder fixture (fused qkv_proj, fp16)', async () => {
    const spec = await compare(fixtures.genai);
    expect(spec.layers[0]!.q.columns).toBeDefined();
  });
});
