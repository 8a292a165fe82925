/**
 * A pruned model is an ordinary model: it is recognised with its new (per-layer) sizes and can be
 * pruned again. (Not yet for a model with a removed block: a ModelSpec cannot describe a layer
 * without attention or MLP.)
 */
import { afterAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { loadModel } from '@llm-bip/onnx-io';
import { recogniseModel } from '@llm-bip/model';
import { tempDir } from '@llm-bip/testing';
import { pruneModel } from './index.js';
import { GQA, ids, maxAbs, maxAbsDiff, randomPlan, tinyCase, writeZeroedDense, logitsOf } from './surgery.testutil.js';

const tmp = tempDir('llm-bip-surgery-reprune-');
afterAll(() => tmp.cleanup());

describe('pruning a pruned model', () => {
  it('recognises per-layer sizes and prunes again exactly', async () => {
    const c = await tinyCase(join(tmp.dir, 'dense'), GQA, 'float32', true);
    const first = randomPlan(c.spec, 51);
    const r1 = await pruneModel({ model: c.loaded, spec: c.spec, plan: first, outPath: join(tmp.dir, 'once') });
    const loaded = await loadModel(r1.modelPath);
    const spec = recogniseModel(loaded.model);
    expect(spec.layers.map((l) => [l.numHeads, l.numKvHeads, l.intermediateSize])).toEqual(first.layers.map((l) => [l.keepHeads.length, l.keepKvHeads.length, l.keepChannels.length]));
    const second = randomPlan(spec, 52);
    const r2 = await pruneModel({ model: loaded, spec, plan: second, outPath: join(tmp.dir, 'twice') });
    const zeroed = await writeZeroedDense({ loaded, spec, hfDir: '', dtype: 'float32', kvCache: true }, second, join(tmp.dir, 'twice'));
    const tokens = ids(2, 6, GQA.vocabSize);
    const run = (p: string) => logitsOf(p, tokens);
    const a = await run(zeroed);
    const b = await run(r2.modelPath);
    expect(maxAbsDiff(a, b)).toBeLessThan(2e-5 * maxAbs(a));
  });
});
