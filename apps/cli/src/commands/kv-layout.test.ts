import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildTinyLlama, tempDir } from '@llm-bip/testing';
import { loadModel } from '@llm-bip/onnx-io';
import { emptyPlan, recogniseModel } from '@llm-bip/model';
import { kvLayoutOf } from './kv-layout.js';

const tmp = tempDir('llm-bip-kv-layout-');
afterAll(() => tmp.cleanup());

describe('kvLayoutOf', () => {
  it('gives every layer its KV heads after a plan, and the single numbers only when layers agree', async () => {
    const t = await buildTinyLlama({ seed: 2, hiddenSize: 32, numLayers: 3, numHeads: 4, numKvHeads: 2, intermediateSize: 24, vocabSize: 50 }, { dir: join(tmp.dir, 'm'), dtype: 'float32', kvCache: true });
    const spec = recogniseModel((await loadModel(t.onnxPath)).model);
    expect(kvLayoutOf(spec)).toEqual({ headDim: 8, numKvHeads: 2, layers: [0, 1, 2].map(() => ({ numKvHeads: 2, headDim: 8 })) });
    const plan = emptyPlan(spec);
    plan.layers[0] = { ...plan.layers[0]!, keepKvHeads: [1], keepHeads: [2, 3] };
    plan.layers[2] = { ...plan.layers[2]!, keepKvHeads: [], keepHeads: [] };
    expect(kvLayoutOf(spec, plan)).toEqual({ headDim: 8, layers: [1, 2, 0].map((n) => ({ numKvHeads: n, headDim: 8 })) });
  });
});
