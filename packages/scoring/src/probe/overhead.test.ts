import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '@llm-bip/testing';
import { tinyCase, tokenRows } from '../tiny-models.testutil.js';
import { probeOverhead } from './overhead.js';

const tmp = tempDir('scoring-overhead-');
afterAll(tmp.cleanup);

// the hook only (timings are for the benchmark script, not for a test to judge)
describe('probeOverhead', () => {
  it('times plain, probe and probe-with-logits passes over the same rows and cleans up', async () => {
    const c = await tinyCase(tmp.dir, 'm', { seed: 3, hiddenSize: 32, numLayers: 2, numHeads: 4, numKvHeads: 2, intermediateSize: 40, vocabSize: 64 }, 'float32', true);
    const r = await probeOverhead(c.onnxPath, tokenRows(4, 8, 64, 2), 'cpu', { repeats: 1, batchSize: 2 });
    expect(r).toMatchObject({ ep: 'cpu', repeats: 1, tokens: 32, batchSize: 2 });
    for (const v of [r.plainSeconds, r.probeSeconds, r.probeWithLogitsSeconds, r.ratio, r.ratioWithLogits, r.cpuRatio]) expect(v).toBeGreaterThan(0);
  });
});
