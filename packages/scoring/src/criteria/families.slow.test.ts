/**
 * LLM-BIP on the family fixtures (transformers checkpoints, exported by llm-bip): the FFN channel
 * score equals the measured block-output change; the head bound (1 + L_t)·||W_o^(h) z_h|| holds for
 * every token of every head group, with L_t built for the family's MLP (SwiGLU, Gemma's GeGLU) and
 * norm gain (γ, Gemma's 1 + w); and the probe's scores are the means of that bound. The measured
 * change comes from the float64 reference forward with the group zeroed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel } from '@llm-bip/onnx-io';
import { exportLlamaToOnnx, hfNames, loadHfWeightsFloat64, recogniseModel } from '@llm-bip/model';
import { FAMILY_FIXTURES, familyFixture, tempDir, type FamilyFixture } from '@llm-bip/testing';
import { captureAll, tokenRows } from '../tiny-models.testutil.js';
import { blockChange, headGroupBound, mean, mlpLipschitz, perToken, worstRelative, zeroChannel, zeroHeadGroup, type ReferenceCase } from '../direct-stats.testutil.js';
import { collectStatistics } from '../probe/collect.js';
import { spectralNorms } from '../spectral.js';
import { modelWeights, type WeightSource } from '../weights.js';
import { getCriterion } from './registry.js';
import type { Statistics } from '../types.js';

const tmp = tempDir('scoring-families-');
afterAll(tmp.cleanup);

interface Prepared extends ReferenceCase {
  stats: Statistics;
  weightSource: WeightSource;
}

async function prepare(name: FamilyFixture): Promise<Prepared> {
  const dir = join(tmp.dir, name);
  mkdirSync(dir, { recursive: true });
  const onnxPath = join(dir, 'model.onnx');
  await exportLlamaToOnnx(familyFixture(name), onnxPath, { dtype: 'float32', kvCache: false });
  const loaded = await loadModel(onnxPath);
  const spec = recogniseModel(loaded.model);
  const { config, weights } = await loadHfWeightsFloat64(familyFixture(name));
  const rows = tokenRows(3, 12, config.vocabSize, 5);
  const taps = getCriterion('llm-bip').taps(spec);
  const stats = await collectStatistics({ modelPath: onnxPath, spec, taps, rows, ep: 'cpu' });
  return { spec, config, weights, rows, acts: captureAll({ config, weights }, rows), stats, weightSource: modelWeights(loaded.model, loaded.dir) };
}

describe.each(FAMILY_FIXTURES)('llm-bip on the %s fixture', (name) => {
  let c: Prepared;
  beforeAll(async () => {
    c = await prepare(name);
  });

  it('FFN channel score = measured block-output change when the channel is zeroed', async () => {
    const scores = await getCriterion('llm-bip').score(c.stats, c.weightSource, c.spec, { headTerm: 'none' });
    const I = c.config.intermediateSize;
    for (const l of [0, 1]) {
      const measured = Array.from({ length: I }, (_, k) => mean(blockChange(c, l, zeroChannel(c.spec, l, k))));
      expect(worstRelative(scores.layers[l]!.channels!, measured, 0), `layer ${l}`).toBeLessThan(1e-4);
    }
  });

  it('head bound (1 + L_t)||W_o^(h) z_h|| >= measured change for every head group and token; scores are its mean', async () => {
    const norms = await spectralNorms(c.spec, c.weightSource);
    const scores = await getCriterion('llm-bip').score(c.stats, c.weightSource, c.spec, { spectralNorms: norms });
    const { numHeads: H, numKvHeads: KV } = c.config;
    let tightest = Infinity;
    for (const l of [0, 1]) {
      const sn = norms.layers[l]!;
      // max |gain| from the HF weights and the family's offset (Gemma: 1 + w), independent of spectral.ts
      const gain = c.weights.get(hfNames.ffnNorm(l))!;
      expect(sn.gmax).toBeCloseTo(Math.max(...Array.from(gain, (w) => Math.abs(c.config.normOffset + w))), 6);
      const p = perToken(c.spec, c.weights, l, c.acts[l]!);
      const L = mlpLipschitz(p, sn);
      for (let g = 0; g < KV; g++) {
        const change = blockChange(c, l, zeroHeadGroup(c.spec, l, g));
        const bound = headGroupBound(p, L, g, H / KV);
        for (let t = 0; t < p.N; t++) {
          expect(bound[t]!, `layer ${l} group ${g} token ${t}`).toBeGreaterThanOrEqual(change[t]!);
          tightest = Math.min(tightest, bound[t]! / change[t]!);
        }
        expect(Math.abs(scores.layers[l]!.heads![g]! / mean(bound) - 1), `score ${l}/${g}`).toBeLessThan(1e-4);
      }
      expect(Math.abs((scores.layers[l]!.details!.meanLipschitz as number) / mean(L) - 1)).toBeLessThan(1e-4);
    }
    console.log(`[llm-bip ${name}] ${c.spec.mlpActivation}, gain offset ${c.config.normOffset}: smallest bound / measured change ${tightest.toFixed(2)}`);
  });

  it('the torch.onnx dynamo export of the same checkpoint gets the same scores (Phi-3: from its fused qkv_proj / gate_up_proj)', async () => {
    const loaded = await loadModel(familyFixture(name, 'model.dynamo.onnx'));
    const spec = recogniseModel(loaded.model);
    const stats = await collectStatistics({ model: loaded, spec, taps: getCriterion('llm-bip').taps(spec), rows: c.rows, ep: 'cpu' });
    const theirs = await getCriterion('llm-bip').score(stats, modelWeights(loaded.model, loaded.dir), spec);
    const ours = await getCriterion('llm-bip').score(c.stats, c.weightSource, c.spec);
    for (const l of [0, 1]) {
      expect(worstRelative(theirs.layers[l]!.channels!, ours.layers[l]!.channels!), `channels ${l}`).toBeLessThan(1e-4);
      expect(worstRelative(theirs.layers[l]!.heads!, ours.layers[l]!.heads!), `heads ${l}`).toBeLessThan(1e-4);
    }
  });
});
