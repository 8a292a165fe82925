/** The README's "adding a criterion" example, registered from outside the package's registry file. */
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '@llm-bip/testing';
import { validatePlan } from '@llm-bip/model';
import { tinyCase, tokenRows } from '../tiny-models.testutil.js';
import { tapValues } from '../statistics.js';
import type { Criterion } from '../types.js';
import { getCriterion, registerCriterion } from './registry.js';
import { loadModel } from '@llm-bip/onnx-io';
import { planModelShape } from '@llm-bip/model';
import { collectStatistics } from '../probe/collect.js';
import { makePlan } from '../allocation/plan.js';
import { blockOutputNorm, compensationStats } from '../statistics.js';
import { modelWeights } from '../weights.js';

const activationNorm: Criterion = {
  name: 'activation-norm',
  description: 'mean |s_k| per channel; mean projected head norm per head',
  taps: (spec) =>
    spec.layers.flatMap((l) => [
      { layer: l.index, tensor: 'ffnAct', reduction: 'sumAbs' },
      { layer: l.index, tensor: 'attnContext', reduction: 'headNorm' },
    ]),
  async score(stats, _weights, spec) {
    const mean = (l: number, t: 'ffnAct' | 'attnContext', r: 'sumAbs' | 'headNorm') =>
      tapValues(stats, { layer: l, tensor: t, reduction: r }, 'activation-norm').map((v) => v / stats.tokens);
    return {
      criterion: 'activation-norm',
      headGranularity: 'head',
      layers: spec.layers.map((l) => ({ layer: l.index, channels: mean(l.index, 'ffnAct', 'sumAbs'), heads: mean(l.index, 'attnContext', 'headNorm') })),
    };
  },
};

const tmp = tempDir('scoring-plugin-');
afterAll(tmp.cleanup);

describe('a criterion plug-in', () => {
  it('registers, collects its taps, scores and plans with every allocation', async () => {
    registerCriterion(activationNorm);
    expect(getCriterion('activation-norm')).toBe(activationNorm);
    const c = await tinyCase(tmp.dir, 'm', { seed: 8, hiddenSize: 32, numLayers: 2, numHeads: 4, numKvHeads: 4, intermediateSize: 40, vocabSize: 64 });
    const rows = tokenRows(3, 8, 64, 1);
    const loaded = await loadModel(c.onnxPath);
    const criterion = getCriterion('activation-norm');
    const stats = await collectStatistics({ model: loaded, spec: c.spec, taps: criterion.taps(c.spec), rows, ep: 'cpu' });
    const raw = await criterion.score(stats, modelWeights(loaded.model, loaded.dir), c.spec);
    // the block output norms the cross-layer allocations need come with every collection (base taps)
    const scores = { ...raw, layers: raw.layers.map((l) => ({ ...l, blockOutputNorm: blockOutputNorm(stats, l.layer) })) };
    expect(scores.layers[0]!.blockOutputNorm).toBeGreaterThan(0);
    for (const allocation of ['uniform', 'global-kind', 'global', 'al-am'] as const) validatePlan(makePlan(scores, planModelShape(c.spec, ''), { ratio: 0.25, allocation }), c.spec);
    const comp = compensationStats(stats, c.spec);
    expect(comp.layers.map((l) => [l.oProjInputMean.length, l.downProjInputMean.length])).toEqual([
      [32, 40],
      [32, 40],
    ]);
  });
});
