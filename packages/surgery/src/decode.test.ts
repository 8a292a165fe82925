import { afterAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { tempDir } from '@llm-bip/testing';
import { loadModel, saveModel } from '@llm-bip/onnx-io';
import { range } from '@llm-bip/model';
import { createSession, emptyPast, forwardLogits, greedyDecode, kvLayoutBesideModel, kvSlots, makeTokenBatch } from '@llm-bip/runtime';
import { pruneModel } from './index.js';
import { GQA, MHA, forward, ids, maxAbs, maxAbsDiff, randomPlan, session, tinyCase } from './surgery.testutil.js';

const tmp = tempDir('llm-bip-surgery-decode-');
afterAll(() => tmp.cleanup());

describe('KV-cache decoding of a pruned model', () => {
  it.each([
    ['GQA fp32', GQA, 'float32', 1e-5],
    ['MHA fp16', MHA, 'float16', 1e-2],
  ] as const)('%s: prefill + step-by-step decoding equals the full forward', async (name, shape, dtype, tol) => {
    const c = await tinyCase(join(tmp.dir, name), shape, dtype, true);
    // layer 0 loses every head (its cache I/O goes), layer 2 every channel
    const plan = randomPlan(c.spec, 5, { zeroHeads: [0], zeroChannels: [2] });
    const r = await pruneModel({ model: c.loaded, spec: c.spec, plan, outPath: join(tmp.dir, name, 'pruned') });
    expect(r.record.kvCacheEmptiedLayers).toEqual([0]);
    const s = await session(r.modelPath);
    try {
      expect(s.inputNames).toContain('past_key_values.0.key');
      expect(s.outputNames).toContain('present.0.value');
      const tokens = ids(2, 8, shape.vocabSize, 3);
      const full = await forward(s, tokens);
      const V = shape.vocabSize;
      const prefill = 5;
      let step = await forward(s, tokens.map((t) => t.slice(0, prefill)));
      // the cache of a pruned layer holds only the kept KV heads
      const kept = plan.layers[1]!.keepKvHeads.length;
      expect(step.present['past_key_values.1.key']!.dims).toEqual([2, kept, prefill, c.spec.layers[1]!.headDim]);
      // the emptied layer carries a zero-head cache whose sequence length still grows
      expect(step.present['past_key_values.0.value']!.dims).toEqual([2, 0, prefill, c.spec.layers[0]!.headDim]);
      const at = (logits: Float32Array, seq: number, b: number, t: number) => logits.subarray((b * seq + t) * V, (b * seq + t + 1) * V);
      for (let b = 0; b < 2; b++) expect(maxAbsDiff(at(step.logits, prefill, b, prefill - 1), at(full.logits, 8, b, prefill - 1))).toBeLessThan(tol * maxAbs(full.logits));
      for (let t = prefill; t < 8; t++) {
        step = await forward(s, tokens.map((row) => [row[t]!]), step.present, t);
        for (let b = 0; b < 2; b++) {
          expect(maxAbsDiff(at(step.logits, 1, b, 0), at(full.logits, 8, b, t))).toBeLessThan(tol * maxAbs(full.logits));
        }
      }
    } finally {
      await s.release();
    }
  });
});

describe('an unevenly pruned model with a symbolic KV-head axis runs from its config.json alone', () => {
  it('the runtime sizes each layer\'s cache from llm_bip_layers; cached decoding equals recomputing', async () => {
    const c = await tinyCase(join(tmp.dir, 'uneven'), MHA, 'float32', true);
    // an HF config beside the input, as a real export folder has: surgery writes the pruned one
    writeFileSync(join(c.loaded.dir, 'config.json'), readFileSync(join(c.hfDir, 'config.json')));
    const plan = randomPlan(c.spec, 9);
    const keep = [[2], [0, 1, 3], [1, 3]];
    plan.layers.forEach((lp, i) => Object.assign(lp, { keepHeads: keep[i]!, keepKvHeads: keep[i]! }));
    const r = await pruneModel({ model: c.loaded, spec: c.spec, plan, outPath: join(tmp.dir, 'uneven', 'pruned', 'model.onnx') });
    // as exporters that leave the KV-head axis symbolic: the graph no longer says how many heads a layer has
    const pruned = await loadModel(r.modelPath);
    for (const v of pruned.model.graph!.input!) {
      if (v.name?.startsWith('past_key_values.')) v.type!.tensorType!.shape!.dim![1] = { dimParam: 'kv_heads' };
    }
    const symbolic = join(dirname(r.modelPath), 'symbolic.onnx');
    await saveModel(pruned.model, symbolic, { sourceDir: pruned.dir });

    const layout = kvLayoutBesideModel(symbolic);
    expect(layout.numKvHeads).toBe(3); // the top-level count: the largest layer's
    expect(layout.layers).toEqual(keep.map((k) => ({ numKvHeads: k.length, headDim: 16 })));
    const s = await createSession(symbolic, { ep: 'cpu', threads: 1 });
    try {
      const slot = kvSlots(s).find((k) => k.layer === 0)!;
      expect(() => emptyPast(slot, 1)).toThrow(/kv heads is symbolic \("kv_heads"\)/);
      expect(emptyPast(slot, 2, layout).dims).toEqual([2, 1, 0, 16]);
      // every layer's empty past has its own head count (the top-level 3 fits layer 1 only)
      expect(kvSlots(s).map((k) => emptyPast(k, 1, layout).dims[1])).toEqual(kvSlots(s).map((k) => keep[k.layer]!.length));
      expect(kvSlots(s).map((k) => emptyPast(k, 1, { ...layout, layers: undefined }).dims[1])).toEqual(kvSlots(s).map(() => 3));

      const prompts = ids(2, 4, MHA.vocabSize, 11);
      const cached = await greedyDecode(s, prompts, { maxNewTokens: 6 });
      const recomputed = await greedyDecode(s, prompts, { maxNewTokens: 6, useKvCache: false });
      expect(cached.usedKvCache).toBe(true);
      expect(cached.decodeSteps).toBe(5);
      expect(cached.tokens).toEqual(recomputed.tokens);
      // and the symbolic model computes what the pruned model does
      const full = prompts.map((p, b) => [...p, ...cached.tokens[b]!]);
      const plain = await session(r.modelPath);
      const want = await forward(plain, full).finally(() => plain.release());
      const got = await forwardLogits(s, makeTokenBatch(full));
      expect(maxAbsDiff(got.data, want.logits)).toBeLessThan(1e-5 * maxAbs(want.logits));
      expect(range(3).map((l) => kvSlots(s).filter((k) => k.layer === l).length)).toEqual([2, 2, 2]);
    } finally {
      await s.release();
    }
  });
});
