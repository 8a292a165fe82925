import { afterAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { tempDir } from '@llm-bip/testing';
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
