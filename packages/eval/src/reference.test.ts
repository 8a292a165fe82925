// Checks against the project's float64 TypeScript reference forward (@llm-bip/onnx-io) on a seeded tiny
// random LLaMA exported in fp32 with a KV cache by the project's own exporter.
import { loadHfWeightsFloat64, type LlamaConfig } from '@llm-bip/model';
import { buildTinyLlama, referenceForward, referenceTokenLogProbs, fixtures, tempDir } from '@llm-bip/testing';
import { createSession, greedyDecode, type Session } from '@llm-bip/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodePair, scoreRequests } from './loglikelihood.js';
import { splitWindows, windowNlls } from './perplexity.js';
import { loadTokenizer } from './tokenizer.js';

const tmp = tempDir();
const tokenizer = loadTokenizer(fixtures.tinyHf);
let session: Session;
let config: LlamaConfig;
let weights: Map<string, Float64Array>;

beforeAll(async () => {
  const tiny = await buildTinyLlama(
    { seed: 11, hiddenSize: 64, numLayers: 2, numHeads: 4, numKvHeads: 2, intermediateSize: 96, vocabSize: 8192 },
    { dir: tmp.dir, dtype: 'float32', kvCache: true },
  );
  ({ config, weights } = await loadHfWeightsFloat64(tiny.hfDir));
  session = await createSession(tiny.onnxPath, { ep: 'cpu', threads: 1 });
});
afterAll(async () => {
  await session.release();
  tmp.cleanup();
});

/** log p(ids[t+1] | ids[..t]) for t in [from, ids.length - 1), from float64 reference logits. */
function referenceLogProbs(ids: number[], from: number): number[] {
  const V = config.vocabSize;
  return referenceTokenLogProbs(referenceForward(config, weights, [ids.slice(0, -1)]), V, ids, from);
}

describe('against the float64 reference forward (fp32 export with KV cache)', () => {
  const text = 'The tower is 324 metres tall, about the same height as an 81-storey building, and the tallest structure in Paris.';

  it('window NLLs match within 1e-4 relative (position_ids and empty pasts fed)', async () => {
    expect(session.inputNames).toContain('position_ids');
    const windows = splitWindows(tokenizer.encode(text), 12);
    const ours = await windowNlls(session, windows, { batchSize: 2, kv: { numKvHeads: config.numKvHeads, headDim: config.headDim } });
    windows.forEach((w, i) => {
      const ref = -referenceLogProbs(w, 0).reduce((a, b) => a + b, 0);
      expect(Math.abs(ours[i]! - ref) / ref).toBeLessThan(1e-4);
    });
  });

  it('per-choice log-likelihoods match within 1e-4 absolute', async () => {
    const requests = [
      { context: 'Question: How tall is the tower?\nAnswer:', continuation: ' 324 metres' },
      { context: 'Question: How tall is the tower?\nAnswer:', continuation: ' about as tall as a house' },
      { context: 'The sentence ends with', continuation: ' a full stop.' },
    ];
    const ours = await scoreRequests(session, tokenizer, requests, { batchSize: 3, kv: { numKvHeads: config.numKvHeads, headDim: config.headDim } });
    requests.forEach((r, i) => {
      const e = encodePair(tokenizer, r);
      const all = [...e.contextIds, ...e.continuationIds];
      const ref = referenceLogProbs(all, e.contextIds.length - 1).reduce((a, b) => a + b, 0);
      expect(Math.abs(ours[i]!.logprob - ref)).toBeLessThan(1e-4);
    });
  });

  it('KV-cache greedy decoding equals greedy decoding by the reference', async () => {
    const prompt = tokenizer.encode('The tower is');
    const kv = { numKvHeads: config.numKvHeads, headDim: config.headDim };
    const { tokens, usedKvCache } = await greedyDecode(session, [prompt], { maxNewTokens: 6, kv });
    expect(usedKvCache).toBe(true);
    const seq = [...prompt];
    const V = config.vocabSize;
    for (let step = 0; step < 6; step++) {
      const logits = referenceForward(config, weights, [seq]);
      const row = logits.subarray((seq.length - 1) * V, seq.length * V);
      let best = 0;
      for (let v = 1; v < V; v++) if (row[v]! > row[best]!) best = v;
      seq.push(best);
    }
    expect(tokens[0]).toEqual(seq.slice(prompt.length));
  });
});
