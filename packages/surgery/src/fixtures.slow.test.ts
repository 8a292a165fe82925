/** Real exporter output (TorchScript, dynamo, onnxruntime-genai builder) pruned by small plans. */
import { afterAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel, recogniseModel } from '@llm-bip/onnx-io';
import { fileURLToPath } from 'node:url';
import { fixtures, hasShared, tempDir } from '@llm-bip/testing';
import { pruneModel } from './index.js';
import { forward, maxAbs, maxAbsDiff, randomPlan, session, writeZeroedDense, type TinyCase } from './surgery.testutil.js';

const tmp = tempDir('llm-bip-surgery-fixtures-');
afterAll(() => tmp.cleanup());

const reference = JSON.parse(readFileSync(fixtures.reference, 'utf8')) as { input_ids: number[] };

// small GQA torch exports (with and without KV cache) kept by the recognisers
const torchVariant = (f: string) => fileURLToPath(new URL(`../../onnx-io/src/recognise/fixtures/${f}`, import.meta.url));

describe.runIf(hasShared('fixtures'))('fixtures', () => {
  it.each([
    ['torchscript', fixtures.torchscript, {}],
    ['dynamo', fixtures.dynamo, {}],
    ['genai', fixtures.genai, { zeroHeads: [1], zeroChannels: [3] }],
    ['torchscript GQA fp32', torchVariant('torchscript.gqa-fp32.onnx'), {}],
    ['torchscript GQA fp16 + KV', torchVariant('torchscript.gqa-fp16-kv.onnx'), { zeroHeads: [1] }],
    ['dynamo GQA fp32', torchVariant('dynamo.gqa-fp32.onnx'), { zeroChannels: [0] }],
    ['dynamo GQA fp16 + KV', torchVariant('dynamo.gqa-fp16-kv.onnx'), { zeroHeads: [1] }],
  ] as const)('%s: the pruned model runs and matches the zeroed dense model', async (name, path, zero) => {
    const loaded = await loadModel(path);
    const spec = recogniseModel(loaded.model);
    const c: TinyCase = { loaded, spec, hfDir: '', dtype: 'float16', kvCache: spec.kvCache };
    const plan = randomPlan(spec, 41, zero);
    const dir = join(tmp.dir, name);
    const r = await pruneModel({ model: loaded, spec, plan, outPath: join(dir, 'pruned.onnx') });
    const zeroed = await writeZeroedDense(c, plan, dir);
    const tokens = [reference.input_ids.map((t) => t % spec.vocabSize)];
    const run = async (p: string) => {
      const s = await session(p);
      try {
        return (await forward(s, tokens, undefined, 0, spec.layers[0]!.headDim)).logits;
      } finally {
        await s.release();
      }
    };
    const a = await run(zeroed);
    const b = await run(r.modelPath);
    const dense = await run(path);
    const scale = maxAbs(a);
    // fp16 weights and activations: a few half-precision ulps of the logit scale (measured: 1 ulp)
    expect(maxAbsDiff(a, b)).toBeLessThan(4e-3 * scale);
    expect(maxAbsDiff(dense, b)).toBeGreaterThan(5e-2 * scale);
    expect(r.record.parameters.after.total).toBeLessThan(0.8 * r.record.parameters.before.total);

    if (spec.kvCache) {
      // GroupQueryAttention with fewer heads and no cache for the emptied layer: decoding equals the full forward
      expect(r.record.kvCacheEmptiedLayers).toEqual([1]);
      const s = await session(r.modelPath);
      try {
        const T = tokens[0]!.length;
        const V = spec.vocabSize;
        let step = await forward(s, tokens.map((t) => t.slice(0, 8)), undefined, 0, spec.layers[0]!.headDim);
        for (let t = 8; t < T; t++) {
          step = await forward(s, tokens.map((row) => [row[t]!]), step.present, t, spec.layers[0]!.headDim);
          expect(maxAbsDiff(step.logits, b.subarray(t * V, (t + 1) * V))).toBeLessThan(4e-3 * scale);
        }
      } finally {
        await s.release();
      }
    }
  });
});
