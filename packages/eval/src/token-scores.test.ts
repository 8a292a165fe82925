import { join } from 'node:path';
import { exportLlamaToOnnx } from '@llm-bip/model';
import { createSession, type Session } from '@llm-bip/runtime';
import { fixtures, tempDir } from '@llm-bip/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scoreRequests } from './loglikelihood.js';
import { splitWindows, windowNlls } from './perplexity.js';
import { createScoringSession, hasScoringHead, type ScoringSession } from './token-scores.js';
import { loadTokenizer } from './tokenizer.js';

// The in-graph head against the JS log-softmax on the same fp32 model (bip-llama-tiny, vocab 8,192,
// exported here): perplexity and log-likelihoods must not move.
const tmp = tempDir('llm-bip-token-scores-');
const tokenizer = loadTokenizer(fixtures.tinyHf);
let plain: Session;
let head: ScoringSession;

beforeAll(async () => {
  const onnxPath = join(tmp.dir, 'model.onnx');
  await exportLlamaToOnnx(fixtures.tinyHf, onnxPath, { dtype: 'float32', kvCache: false });
  plain = await createSession(onnxPath, { ep: 'cpu', threads: 1 });
  head = await createScoringSession(onnxPath, { ep: 'cpu', threads: 1 });
});
afterAll(async () => {
  await plain?.release();
  await head?.session.release();
  await head?.cleanup();
  tmp.cleanup();
});

const text =
  'Senjō no Valkyria 3 : Unrecorded Chronicles is a tactical role @-@ playing video game developed by Sega and Media.Vision for the PlayStation Portable . ' +
  'The game began development in 2010 , carrying over a large portion of the work done on Valkyria Chronicles II . While it retained the standard features of the series , it also underwent multiple adjustments .';

function relative(a: number, b: number): number {
  return Math.abs(a - b) / Math.abs(b);
}

describe('scoring head vs JS log-softmax (fp32)', () => {
  it('windowNlls: same per-window NLLs, also for windows of unequal length (padding is not read)', async () => {
    expect(hasScoringHead(head.session)).toBe(true);
    const ids = tokenizer.encode(text);
    const windows = splitWindows(ids, 16);
    expect(windows.length).toBeGreaterThanOrEqual(4);
    const ragged = [...windows, ids.slice(0, 7), ids.slice(3, 12)];
    const ours = await windowNlls(head.session, ragged, { batchSize: 3 });
    const js = await windowNlls(plain, ragged, { batchSize: 3 });
    expect(ours).toHaveLength(ragged.length);
    ours.forEach((x, i) => expect(relative(x, js[i]!)).toBeLessThan(1e-6));
    const meanHead = ours.reduce((a, b) => a + b, 0);
    const meanJs = js.reduce((a, b) => a + b, 0);
    expect(relative(Math.exp(meanHead / 100), Math.exp(meanJs / 100))).toBeLessThan(1e-6);
  });

  it('scoreRequests: same log-likelihoods and is_greedy, with padding and seqMultiple', async () => {
    const requests = [
      { context: 'Question: What colour is the sky?\nAnswer:', continuation: ' blue' },
      { context: 'Question: What colour is the sky?\nAnswer:', continuation: ' a deep shade of green' },
      { context: 'The cat sat on the', continuation: ' mat.' },
      { context: 'Paris is the capital of', continuation: ' France, a country in western Europe.' },
      // repeated text: the model gets some continuation tokens right, so is_greedy is exercised both ways
      { context: 'one two three four one two three four one two three four one two', continuation: ' three four' },
    ];
    for (const opts of [{ batchSize: 1 }, { batchSize: 3, seqMultiple: 16 }]) {
      const ours = await scoreRequests(head.session, tokenizer, requests, opts);
      const js = await scoreRequests(plain, tokenizer, requests, opts);
      ours.forEach((r, i) => {
        expect(relative(r.logprob, js[i]!.logprob)).toBeLessThan(1e-6);
        expect(r.isGreedy).toBe(js[i]!.isGreedy);
        expect(r.continuationTokens).toBe(js[i]!.continuationTokens);
      });
    }
  });
});
