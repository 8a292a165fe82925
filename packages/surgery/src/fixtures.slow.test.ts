/** Real exporter output (TorchScript, dynamo, onnxruntime-genai builder) pruned by small plans. */
import { afterAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel } from '@llm-bip/onnx-io';
import { recogniseModel } from '@llm-bip/model';
import { fileURLToPath } from 'node:url';
import { fixtures, hasShared, tempDir } from '@llm-bip/testing';
import { pruneModel } from './index.js';
import { forward, maxAbs, maxAbsDiff, randomPlan, session, writeZeroedDense, type TinyCase, logitsOf } from './surgery.testutil.js';

const tmp = tempDir('llm-bip-surgery-fixtures-');
afterAll(() => tmp.cleanup());

const reference = hasShared('fixtures') ? (JSON.parse(readFileSync(fixtures.reference, 'utf8')) as { input_ids: number[] }) : { input_ids: [] };

// small GQA torch exports (with and without KV cache) kept by the recognisers
const torchVariant = (f: string) => fileURLToPath(new URL(`../../model/src/recognise/fixtures/${f}`, import.meta.url));

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
    const run = (p: string) => logitsOf(p, tokens, spec.layers[0]!.headDim);
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

describe.runIf(hasShared('fixtures'))('genai fixture with compensation', () => {
  it('adds biases to kept projections and to the bypassed blocks; zero means change nothing', async () => {
    const loaded = await loadModel(fixtures.genai);
    const spec = recogniseModel(loaded.model);
    const plan = randomPlan(spec, 43, { zeroHeads: [2], zeroChannels: [4] });
    const stats = (scale: number) => ({
      layers: spec.layers.map((l) => ({
        layer: l.index,
        oProjInputMean: Array.from({ length: l.numHeads * l.headDim }, (_, i) => scale * Math.sin(i)),
        downProjInputMean: Array.from({ length: l.intermediateSize }, (_, i) => scale * Math.cos(i)),
      })),
    });
    const dir = join(tmp.dir, 'genai-comp');
    const withComp = await pruneModel({ model: loaded, spec, plan, outPath: join(dir, 'a.onnx'), compensation: stats(0.5) });
    const zeroComp = await pruneModel({ model: loaded, spec, plan, outPath: join(dir, 'b.onnx'), compensation: stats(0) });
    const plain = await pruneModel({ model: loaded, spec, plan, outPath: join(dir, 'c.onnx') });
    const tokens = [reference.input_ids];
    const run = (p: string) => logitsOf(p, tokens, spec.layers[0]!.headDim);
    const [a, b, c] = [await run(withComp.modelPath), await run(zeroComp.modelPath), await run(plain.modelPath)];
    // ORT fuses the extra Add into SkipSimplifiedLayerNormalization (fp32 inside): one fp16 ulp at most
    expect(maxAbsDiff(b, c)).toBeLessThan(4e-3 * maxAbs(c));
    expect(maxAbsDiff(a, c)).toBeGreaterThan(5e-2 * maxAbs(c));
    const names = (await loadModel(withComp.modelPath)).model.graph!.initializer!.map((t) => t.name!).filter((n) => n.includes('llm_bip_compensation'));
    expect(names).toHaveLength(2 * spec.numLayers);
  });
});
