import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel } from '@llm-bip/onnx-io';
import { emptyPlan, PlanMismatchError, type PruningPlan } from '@llm-bip/model';
import { tempDir } from '@llm-bip/testing';
import { pruneModel } from './index.js';
import { GQA, MHA, ids, maxAbs, maxAbsDiff, randomPlan, tinyCase, writeZeroedDense, type TinyCase, logitsOf } from './surgery.testutil.js';

const tmp = tempDir('llm-bip-surgery-');
afterAll(() => tmp.cleanup());
let n = 0;
const fresh = () => join(tmp.dir, `case${n++}`);

describe('empty plan', () => {
  it('reproduces the dense logits bitwise (fp32)', async () => {
    const c = await tinyCase(fresh(), MHA, 'float32', false);
    const out = join(fresh(), 'pruned.onnx');
    const r = await pruneModel({ model: c.loaded, spec: c.spec, plan: emptyPlan(c.spec), outPath: out });
    const tokens = ids(2, 9, MHA.vocabSize);
    const dense = await logitsOf(c.loaded.path, tokens);
    const pruned = await logitsOf(r.modelPath, tokens);
    expect(Array.from(pruned)).toEqual(Array.from(dense));
    expect(r.record.parameters.after.total).toBe(r.record.parameters.before.total);
  });
});

const variants: Array<[string, typeof MHA, 'float32' | 'float16', boolean, number]> = [
  ['MHA fp32', MHA, 'float32', false, 2e-5],
  ['MHA fp32 + KV cache', MHA, 'float32', true, 2e-5],
  ['GQA fp32', GQA, 'float32', false, 2e-5],
  ['GQA fp32 + KV cache', GQA, 'float32', true, 2e-5],
  ['MHA fp16 + KV cache', MHA, 'float16', true, 2e-2],
  ['GQA fp16', GQA, 'float16', false, 2e-2],
];

describe.each(variants)('%s', (_name, shape, dtype, kv, tol) => {
  let c: TinyCase;
  beforeAll(async () => {
    c = await tinyCase(fresh(), shape, dtype, kv);
  });

  it('pruned logits equal the dense model with the pruned groups zeroed', async () => {
    for (const [seed, zero] of [
      [11, {}],
      [12, { zeroHeads: [1], zeroChannels: [2] }],
    ] as const) {
      const plan = randomPlan(c.spec, seed, zero);
      const dir = fresh();
      const r = await pruneModel({ model: c.loaded, spec: c.spec, plan, outPath: join(dir, 'model.onnx') });
      const zeroed = await writeZeroedDense(c, plan, dir);
      const tokens = ids(2, 7, shape.vocabSize, seed);
      const a = await logitsOf(zeroed, tokens);
      const b = await logitsOf(r.modelPath, tokens);
      expect(maxAbs(a)).toBeGreaterThan(0.1);
      expect(maxAbsDiff(a, b)).toBeLessThan(tol * Math.max(1, maxAbs(a)));
      // the plan really removed something: the logits differ from the dense model's
      const dense = await logitsOf(c.loaded.path, tokens);
      expect(maxAbsDiff(dense, b)).toBeGreaterThan(10 * tol);
    }
  });
});
