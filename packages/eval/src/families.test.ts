/**
 * Evaluation of the family fixtures (transformers checkpoints): the perplexity path (scoring-head
 * session, windowNlls) gives the window NLL that PyTorch's logits give, for our export of each HF
 * checkpoint and for the torch.onnx exports we recognise.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportLlamaToOnnx } from '@llm-bip/model';
import { FAMILY_FIXTURES, familyFixture, tempDir, type FamilyReference } from '@llm-bip/testing';
import { windowNlls } from './perplexity.js';
import { createScoringSession } from './token-scores.js';

const tmp = tempDir('eval-families-');
afterAll(() => tmp.cleanup());

/** Σ_t -log softmax(logits_t)[ids_{t+1}] in float64 from PyTorch's logits. */
function referenceNll(ref: FamilyReference): number {
  const ids = ref.input_ids[0]!;
  let nll = 0;
  for (let t = 0; t + 1 < ids.length; t++) {
    const row = ref.logits[t]!;
    const max = Math.max(...row);
    const lse = max + Math.log(row.reduce((a, v) => a + Math.exp(v - max), 0));
    nll += lse - row[ids[t + 1]!]!;
  }
  return nll;
}

describe.each(FAMILY_FIXTURES)('%s fixture', (name) => {
  const ref = JSON.parse(readFileSync(familyFixture(name, 'reference.json'), 'utf8')) as FamilyReference;
  const sources = ['llm-bip export', 'dynamo'] as const;

  it.each(sources)('%s: window NLL equals PyTorch logits', async (source) => {
    let path = familyFixture(name, 'model.dynamo.onnx');
    if (source === 'llm-bip export') {
      const dir = join(tmp.dir, name);
      mkdirSync(dir, { recursive: true });
      path = join(dir, 'model.onnx');
      await exportLlamaToOnnx(familyFixture(name), path, { dtype: 'float32', kvCache: false });
    }
    const { session, cleanup } = await createScoringSession(path, { ep: 'cpu' });
    try {
      const [got] = await windowNlls(session, ref.input_ids);
      const want = referenceNll(ref);
      expect(Math.abs(got! / want - 1)).toBeLessThan(1e-5);
    } finally {
      await session.release();
      await cleanup();
    }
  });
});
