/**
 * Issue-4 evidence kept as a regression test: the whole pipeline (export -> llm-bip scores from
 * 128 x 128 C4 tokens, seed 0 -> global-kind plan at 20 % -> surgery with bias compensation) on
 * bip-llama-small reproduces the PyTorch prototype's WikiText-2 perplexity in DESIGN.md (88.6 with
 * compensation, 93.1 without; dense 76.96), full test set, 128-token windows. Calibration sampling
 * differs from the prototype's, so the tolerance is 3 % (measured: 88.50 and 93.35).
 * About 3 minutes on 2 cores.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { evaluate, exportDense, planTo, pruneWith, scoreTo } from '../steps.js';
import { loadScores } from '@llm-bip/scoring';
import { fixtures, shared, tempDir } from '@llm-bip/testing';

const tmp = tempDir('llm-bip-design-table-');
afterAll(() => tmp.cleanup());

describe('bip-llama-small, llm-bip global-kind at 20 %, vs the prototype table in DESIGN.md', () => {
  it('WikiText-2 perplexity within 3 % of 88.6 (with compensation) and 93.1 (without)', { timeout: 1_800_000 }, async () => {
    const data = shared('data');
    const dense = join(tmp.dir, 'dense.onnx');
    await exportDense(fixtures.smallHf, dense, { externalData: true });
    const scores = join(tmp.dir, 'scores.json');
    await scoreTo(dense, fixtures.smallHf, { criterion: 'llm-bip', samples: 128, seqLen: 128, seed: 0, ep: 'cpu', data }, scores);
    const plan = await planTo(scores, 0.2, 'global-kind', join(tmp.dir, 'plan.json'));
    for (const [compensate, expected] of [[true, 88.6], [false, 93.1]] as const) {
      const out = join(tmp.dir, compensate ? 'comp' : 'plain');
      await pruneWith(dense, plan, out, compensate ? { compensation: await loadScores(scores) } : undefined);
      const ev = { results: await evaluate(join(out, 'model.onnx'), fixtures.smallHf, { ppl: ['wikitext2'], tasks: [], ep: 'cpu', data }) };
      const ppl = ev.results.wikitext2!.perplexity as number;
      console.log(`[design-table] llm-bip global-kind 20 %${compensate ? ' + compensation' : ''}: WikiText-2 ${ppl.toFixed(2)} (prototype ${expected})`);
      expect(Math.abs(ppl - expected) / expected).toBeLessThanOrEqual(0.03);
    }
  });
});
