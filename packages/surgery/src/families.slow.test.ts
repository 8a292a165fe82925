/**
 * Surgery on the family fixtures (transformers checkpoints; tooling/testing/fixtures/families): our
 * export (with and without KV cache) and the torch.onnx exports. Pruning groups equals zeroing them in
 * the dense model (q/k/v biases, Qwen3's per-head q/k norms, Phi-3's fused qkv_proj / gate_up_proj in
 * the torch.onnx graphs, GeGLU and Gemma's norms included), an
 * empty plan reproduces the dense logits bit for bit, and a pruned KV-cache model decodes token by
 * token to its own full forward.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel } from '@llm-bip/onnx-io';
import { emptyPlan, exportLlamaToOnnx, recogniseModel } from '@llm-bip/model';
import { FAMILY_FIXTURES, familyFixture, tempDir, type FamilyFixture } from '@llm-bip/testing';
import { pruneModel } from './index.js';
import { forward, ids, logitsOf, maxAbs, maxAbsDiff, randomPlan, session, writeZeroedDense, type TinyCase } from './surgery.testutil.js';

const tmp = tempDir('llm-bip-surgery-families-');
afterAll(() => tmp.cleanup());
let n = 0;
const fresh = () => join(tmp.dir, `case${n++}`);

type Source = 'llm-bip export' | 'llm-bip export + KV cache' | 'torchscript' | 'dynamo';

async function familyCase(name: FamilyFixture, source: Source): Promise<TinyCase> {
  let path: string;
  if (source === 'torchscript' || source === 'dynamo') {
    path = familyFixture(name, `model.${source}.onnx`);
  } else {
    const dir = fresh();
    mkdirSync(dir, { recursive: true });
    path = join(dir, 'model.onnx');
    await exportLlamaToOnnx(familyFixture(name), path, { dtype: 'float32', kvCache: source !== 'llm-bip export', externalData: true });
  }
  const loaded = await loadModel(path);
  return { loaded, spec: recogniseModel(loaded.model), hfDir: familyFixture(name), dtype: 'float32', kvCache: source === 'llm-bip export + KV cache' };
}

// Phi-3's torch.onnx graphs keep q/k/v and gate/up fused: surgery cuts column ranges and rewrites the slice bounds
const cases = FAMILY_FIXTURES.flatMap((name) => (['llm-bip export', 'llm-bip export + KV cache', 'torchscript', 'dynamo'] as const).map((s) => [name, s] as const));

describe.each(cases)('%s, %s', (name, source) => {
  it('an empty plan reproduces the dense logits bit for bit; pruned groups equal zeroed groups', async () => {
    const c = await familyCase(name, source);
    const tokens = ids(2, 12, c.spec.vocabSize, 3);
    const dense = await logitsOf(c.loaded.path, tokens, c.spec.layers[0]!.headDim);

    const same = await pruneModel({ model: c.loaded, spec: c.spec, plan: emptyPlan(c.spec), outPath: join(fresh(), 'model.onnx') });
    expect(Array.from(await logitsOf(same.modelPath, tokens, c.spec.layers[0]!.headDim))).toEqual(Array.from(dense));

    for (const [seed, zero] of [
      [21, {}],
      [22, { zeroHeads: [1], zeroChannels: [0] }],
    ] as const) {
      const plan = randomPlan(c.spec, seed, zero);
      const dir = fresh();
      const r = await pruneModel({ model: c.loaded, spec: c.spec, plan, outPath: join(dir, 'model.onnx') });
      const zeroed = await writeZeroedDense(c, plan, dir);
      const want = await logitsOf(zeroed, tokens, c.spec.layers[0]!.headDim);
      const got = await logitsOf(r.modelPath, tokens, c.spec.layers[0]!.headDim);
      const scale = maxAbs(want);
      expect(maxAbsDiff(got, want)).toBeLessThanOrEqual(2e-5 * Math.max(scale, 1));
      // the prune changed the model (the comparison can fail)
      expect(maxAbsDiff(dense, got)).toBeGreaterThan(1e-3 * scale);
      expect(r.record.parameters.after.total).toBeLessThan(r.record.parameters.before.total);

      if (c.kvCache) {
        // decode the pruned model: prefill 5, then one token at a time, equals its full forward
        const s = await session(r.modelPath);
        const V = c.spec.vocabSize;
        const S = tokens[0]!.length;
        const stepped = new Float32Array(tokens.length * S * V);
        let past = {};
        let pos = 0;
        for (const len of [5, ...Array.from({ length: S - 5 }, () => 1)]) {
          const out = await forward(s, tokens.map((t) => t.slice(pos, pos + len)), past, pos, c.spec.layers[0]!.headDim);
          for (let b = 0; b < tokens.length; b++) stepped.set(out.logits.subarray(b * len * V, (b + 1) * len * V), (b * S + pos) * V);
          past = out.present;
          pos += len;
        }
        await s.release();
        expect(maxAbsDiff(stepped, got)).toBeLessThanOrEqual(2e-5 * Math.max(scale, 1));
      }
    }
  });
});
