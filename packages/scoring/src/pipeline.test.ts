import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '@llm-bip/testing';
import { validatePlan } from '@llm-bip/model';
import { tinyCase, type TinyCase } from './tiny-models.testutil.js';
import { sampleCalibration, type CalibrationSet } from './calibration.js';
import { planFromScores, rescore, scoreModel } from './pipeline.js';
import { loadScores, saveScores } from './scores-file.js';

const tmp = tempDir('scoring-pipeline-');
afterAll(tmp.cleanup);

describe('score -> scores.json -> plans at several ratios', () => {
  let c: TinyCase;
  let calib: CalibrationSet;
  beforeAll(async () => {
    c = await tinyCase(tmp.dir, 'gqa', { seed: 31, hiddenSize: 32, numLayers: 3, numHeads: 4, numKvHeads: 2, intermediateSize: 40, vocabSize: 64 });
    const texts = Array.from({ length: 10 }, (_, i) => `document ${i}: ` + 'lorem ipsum dolor sit amet '.repeat(3 + i));
    calib = await sampleCalibration({ texts, encode: (t) => Array.from(t, (ch) => ch.charCodeAt(0) % 64), samples: 6, seqLen: 16, seed: 4 });
  });

  it('saves statistics and scores; plans at other ratios need no recalibration', async () => {
    const file = await scoreModel({ modelPath: c.onnxPath, criterion: 'llm-bip', calibration: calib, ep: 'cpu', fingerprint: 'sha256:test', batchSize: 4 });
    const path = join(tmp.dir, 'scores.json');
    await saveScores(file, path);
    const loaded = await loadScores(path);
    expect(loaded).toEqual(file);
    expect(loaded.statistics.tokens).toBe(96);
    for (const ratio of [0.2, 0.5]) {
      const plan = planFromScores(loaded, { ratio });
      validatePlan(plan, c.spec);
      expect(plan).toMatchObject({ criterion: 'llm-bip', allocation: 'global-kind', ratio, seed: 4, headGranularity: 'kv-group' });
      expect(plan.model.fingerprint).toBe('sha256:test');
      expect(plan.calibration).toEqual({ source: '10 texts', samples: 6, seqLen: 16, seed: 4 });
    }
    // the ablation from the same statistics
    const direct = await rescore(loaded, c.onnxPath, 'llm-bip', { headTerm: 'direct' });
    expect(direct.scores.options).toMatchObject({ headTerm: 'direct' });
    expect(direct.scores.layers[0]!.heads![0]!).toBeLessThan(file.scores.layers[0]!.heads![0]!);
  });

  it('flap defaults to al-am; magnitude needs no calibration; llm-bip does', async () => {
    const flap = await scoreModel({ modelPath: c.onnxPath, criterion: 'flap', calibration: calib, ep: 'cpu' });
    const plan = planFromScores(flap, { ratio: 0.3 });
    expect(plan.allocation).toBe('al-am');
    validatePlan(plan, c.spec);
    const mag = await scoreModel({ modelPath: c.onnxPath, criterion: 'magnitude' });
    validatePlan(planFromScores(mag, { ratio: 0.3 }), c.spec);
    await expect(scoreModel({ modelPath: c.onnxPath, criterion: 'llm-bip' })).rejects.toThrow(/--calib FILE/);
  });
});
