/**
 * The family fixtures made with transformers (tooling/testing/fixtures/families): our export of each HF
 * checkpoint gives PyTorch's logits (<= 1e-4 of the largest logit, same argmax), with and without
 * KV cache; the float64 reference agrees with PyTorch too; torch.onnx exports (TorchScript and dynamo)
 * of the same checkpoints are recognised with the ModelSpec the config implies; unsupported families
 * are refused before any work, naming what is missing.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel } from '@llm-bip/onnx-io';
import { FAMILY_FIXTURES, familyFixture, referenceForward, tempDir, type FamilyFixture, type FamilyReference } from '@llm-bip/testing';
import { readHfConfig } from './hf/config.js';
import { loadHfWeightsFloat64 } from './hf/weights.js';
import { exportLlamaToOnnx } from './export/export.js';
import { decodeInSteps, forwardFeeds, logitsOf, openSession } from './export/ort.testutil.js';
import { recogniseModel } from './recognise/recognise.js';
import { UnsupportedGraphError } from './recognise/errors.js';

const tmp = tempDir('llm-bip-family-fixtures-');
afterAll(() => tmp.cleanup());

const reference = (name: FamilyFixture): FamilyReference => JSON.parse(readFileSync(familyFixture(name, 'reference.json'), 'utf8')) as FamilyReference;

/** max |a - b| over the largest |b|, and whether the argmax of every row agrees. */
function compare(got: ArrayLike<number>, ref: FamilyReference): { rel: number; argmaxEqual: boolean } {
  const V = ref.logits[0]!.length;
  expect(got.length).toBe(ref.logits.length * V);
  let diff = 0;
  let scale = 0;
  let argmaxEqual = true;
  ref.logits.forEach((row, t) => {
    let best = 0;
    for (let v = 0; v < V; v++) {
      diff = Math.max(diff, Math.abs(got[t * V + v]! - row[v]!));
      scale = Math.max(scale, Math.abs(row[v]!));
      if (got[t * V + v]! > got[t * V + best]!) best = v;
    }
    if (best !== ref.argmax[t]) argmaxEqual = false;
  });
  return { rel: diff / scale, argmaxEqual };
}

const TOL = 1e-4;

describe.each(FAMILY_FIXTURES)('%s fixture', (name) => {
  const ref = reference(name);
  const ids = ref.input_ids;

  it('our export (fp32) gives PyTorch logits; so does the float64 reference', async () => {
    const out = join(tmp.dir, `${name}.onnx`);
    await exportLlamaToOnnx(familyFixture(name), out, { dtype: 'float32', kvCache: false });
    const session = await openSession(out);
    const got = logitsOf(await session.run(forwardFeeds(ids)));
    await session.release();
    const c = compare(got, ref);
    console.log(`[families] ${name}: export vs PyTorch ${c.rel.toExponential(2)} (torch ${ref.torch}, transformers ${ref.transformers})`);
    expect(c.rel).toBeLessThanOrEqual(TOL);
    expect(c.argmaxEqual).toBe(true);
    const { config, weights } = await loadHfWeightsFloat64(familyFixture(name));
    const r = compare(referenceForward(config, weights, ids), ref);
    expect(r.rel).toBeLessThanOrEqual(TOL);
    expect(r.argmaxEqual).toBe(true);
  });

  it('our export with KV cache: prefill then one token at a time gives PyTorch logits', async () => {
    const out = join(tmp.dir, `${name}.kv.onnx`);
    await exportLlamaToOnnx(familyFixture(name), out, { dtype: 'float32', kvCache: true });
    const config = readHfConfig(familyFixture(name));
    const session = await openSession(out);
    const presents = session.outputNames.filter((o) => o.startsWith('present.'));
    expect(presents).toHaveLength(2 * config.numLayers);
    const stepped = await decodeInSteps(session, ids, config, { prefill: 4 });
    await session.release();
    const c = compare(stepped, ref);
    expect(c.rel).toBeLessThanOrEqual(TOL);
    expect(c.argmaxEqual).toBe(true);
  });

  for (const exporter of ['torchscript', 'dynamo'] as const) {
    it(`torch.onnx ${exporter} export: runs to PyTorch's logits, and is recognised with the spec config.json implies`, async () => {
      const path = familyFixture(name, `model.${exporter}.onnx`);
      const session = await openSession(path);
      const { input_ids, attention_mask } = forwardFeeds(ids);
      const got = logitsOf(await session.run({ input_ids: input_ids!, attention_mask: attention_mask! }));
      await session.release();
      expect(compare(got, ref).rel).toBeLessThanOrEqual(TOL);

      const { model } = await loadModel(path);
      const spec = recogniseModel(model, { source: path });
      const c = readHfConfig(familyFixture(name));
      expect(spec.recogniser).toBe('torch-onnx');
      expect(spec.flavour).toMatch(exporter === 'dynamo' ? /dynamo/ : /TorchScript/);
      expect(spec).toMatchObject({ hiddenSize: c.hiddenSize, vocabSize: c.vocabSize, numLayers: c.numLayers, mlpActivation: c.hiddenAct, rmsNormEps: c.rmsNormEps });
      // TorchScript keeps two copies of a tied matrix; dynamo shares one initializer
      if (exporter === 'dynamo') expect(spec.tiedEmbeddings).toBe(c.tieWordEmbeddings);
      if (c.embeddingScale !== 1) expect(spec.embedding.scale).toBeCloseTo(c.embeddingScale, 5);
      else expect(spec.embedding.scale).toBeUndefined();
      for (const l of spec.layers) {
        expect(l).toMatchObject({ numHeads: c.numHeads, numKvHeads: c.numKvHeads, headDim: c.headDim, intermediateSize: c.intermediateSize });
        for (const p of [l.q, l.k, l.v]) expect(p.bias !== undefined).toBe(c.qkvBias);
        expect(l.o.bias).toBeUndefined();
        expect(l.qNorm !== undefined && l.kNorm !== undefined).toBe(c.qkNorm);
        if (l.qNorm) expect(l.qNorm.weight).toMatch(/q_norm/);
        if (c.fusedCheckpoint) {
          // Phi-3: q, k, v are column ranges of one qkv_proj weight, gate and up of one gate_up_proj
          const [q, kv, I] = [c.numHeads * c.headDim, c.numKvHeads * c.headDim, c.intermediateSize];
          expect([l.q, l.k, l.v].map((p) => p.columns)).toEqual([{ start: 0, end: q }, { start: q, end: q + kv }, { start: q + kv, end: q + 2 * kv }]);
          expect(new Set([l.q.weight, l.k.weight, l.v.weight]).size).toBe(1);
          expect([l.gate.columns, l.up.columns]).toEqual([{ start: 0, end: I }, { start: I, end: 2 * I }]);
          expect(l.gate.weight).toBe(l.up.weight);
          // the constant slice bounds at q width and q + kv width are listed for surgery to rewrite
          const roles = l.shapeUses.filter((u) => model.graph!.node!.find((n) => n.name === u.node)?.opType === 'Slice').map((u) => u.role);
          expect(new Set(roles)).toEqual(new Set(['qWidth', 'qkWidth']));
        }
      }
    });
  }
});

describe('fixtures of families llm-bip refuses', () => {
  it('Mixtral (MoE): the HF folder is refused before any output, naming the experts', async () => {
    const out = join(tmp.dir, 'mixtral.onnx');
    await expect(exportLlamaToOnnx(familyFixture('mixtral'), out, { dtype: 'float32', kvCache: false })).rejects.toThrow(/"mixtral" is not supported: it has a mixture-of-experts MLP .*num_local_experts/);
    expect(existsSync(out)).toBe(false);
  });

  for (const name of ['gemma2', 'gemma3'] as const) {
    it(`${name}: the HF config is refused naming soft-capping / sandwich norms; its torch.onnx graphs name the sandwich norm`, async () => {
      expect(() => readHfConfig(familyFixture(name))).toThrow(name === 'gemma2' ? /soft-capping/ : /sandwich norms/);
      for (const exporter of ['torchscript', 'dynamo']) {
        const { model } = await loadModel(familyFixture(name, `model.${exporter}.onnx`));
        let err: unknown;
        try {
          recogniseModel(model);
        } catch (e) {
          err = e;
        }
        expect(err).toBeInstanceOf(UnsupportedGraphError);
        expect((err as Error).message).toMatch(/RMS-normalised first \(a sandwich norm, as in Gemma 2 \/ Gemma 3\)/);
      }
    });
  }
});
