import { createSession, ort, type Session } from '@llm-bip/runtime';
import { fixtures } from '@llm-bip/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodePair, scoreRequests } from './loglikelihood.js';
import { loadTokenizer } from './tokenizer.js';

const tokenizer = loadTokenizer(fixtures.tinyHf);
const enc = (s: string): number[] => tokenizer.encode(s, { addBos: false });

describe('encodePair (HFLM._encode_pair)', () => {
  it('splits encode(context + continuation) at the length of encode(context)', () => {
    const r = encodePair(tokenizer, { context: 'Question: Is it?\nAnswer:', continuation: ' yes' });
    expect(r.contextIds).toEqual(enc('Question: Is it?\nAnswer:'));
    expect([...r.contextIds, ...r.continuationIds]).toEqual(enc('Question: Is it?\nAnswer: yes'));
    expect(r.contextIds).not.toContain(1); // no BOS by default, as the harness
  });

  it('moves trailing whitespace of the context into the continuation', () => {
    const moved = encodePair(tokenizer, { context: 'The sky is ', continuation: 'blue' });
    const plain = encodePair(tokenizer, { context: 'The sky is', continuation: ' blue' });
    expect(moved).toEqual(plain);
  });

  it('adds BOS to both parts when asked (add_bos_token=True)', () => {
    const r = encodePair(tokenizer, { context: 'A b', continuation: ' c' }, { addBos: true });
    expect(r.contextIds[0]).toBe(1);
    expect(r.continuationIds).toEqual(encodePair(tokenizer, { context: 'A b', continuation: ' c' }).continuationIds);
  });

  it('an empty context becomes the prefix token', () => {
    const r = encodePair(tokenizer, { context: '', continuation: 'Hello' });
    expect(r.contextIds).toEqual([1]);
    expect(r.continuationIds).toEqual(enc('Hello'));
  });
});

function half(h: number): number {
  const e = (h >> 10) & 31;
  const m = h & 1023;
  const v = e === 0 ? m * 2 ** -24 : (1 + m / 1024) * 2 ** (e - 15);
  return h & 0x8000 ? -v : v;
}

describe('scoreRequests', () => {
  let session: Session;
  beforeAll(async () => {
    session = await createSession(fixtures.torchscript, { ep: 'cpu', threads: 1 });
  });
  afterAll(() => session.release());

  // float64 reference: one unpadded forward of (ctx + cont)[:-1], log-softmax at the continuation positions
  async function reference(context: number[], continuation: number[]): Promise<number> {
    const input = [...context, ...continuation].slice(0, -1);
    const n = input.length;
    const out = await session.run({
      input_ids: new ort.Tensor('int64', BigInt64Array.from(input.map(BigInt)), [1, n]),
      attention_mask: new ort.Tensor('int64', new BigInt64Array(n).fill(1n), [1, n]),
    });
    const bits = out.logits!.data as Uint16Array;
    const V = out.logits!.dims[2]!;
    let ll = 0;
    continuation.forEach((tok, j) => {
      const t = context.length - 1 + j;
      const row = Array.from(bits.subarray(t * V, (t + 1) * V), half);
      const max = Math.max(...row);
      ll += row[tok]! - max - Math.log(row.reduce((s, x) => s + Math.exp(x - max), 0));
    });
    return ll;
  }

  const requests = [
    { context: 'Question: What colour is the sky?\nAnswer:', continuation: ' blue' },
    { context: 'Question: What colour is the sky?\nAnswer:', continuation: ' a deep shade of green' },
    { context: 'The cat sat on the', continuation: ' mat.' },
    { context: 'Paris is the capital of', continuation: ' France, a country in western Europe.' },
  ];

  it('sums continuation log-probs like the harness; batching and order do not matter', async () => {
    const one = await scoreRequests(session, tokenizer, requests, { batchSize: 1 });
    const all = await scoreRequests(session, tokenizer, requests, { batchSize: 4 });
    for (const [i, r] of requests.entries()) {
      const e = encodePair(tokenizer, r);
      const ref = await reference(e.contextIds, e.continuationIds);
      expect(Math.abs(one[i]!.logprob - ref)).toBeLessThan(1e-6);
      expect(Math.abs(all[i]!.logprob - ref)).toBeLessThan(2e-3); // padded batch: different GEMM shapes
      expect(one[i]!.continuationTokens).toBe(e.continuationIds.length);
    }
    expect(one[0]!.logprob).toBeLessThan(0);
  });

  it('extra right padding (seqMultiple) leaves the log-likelihoods alone', async () => {
    const plain = await scoreRequests(session, tokenizer, requests, { batchSize: 1 });
    const padded = await scoreRequests(session, tokenizer, requests, { batchSize: 1, seqMultiple: 16 });
    for (const [i, r] of plain.entries()) {
      expect(Math.abs(padded[i]!.logprob - r.logprob)).toBeLessThan(2e-3); // fp16 fixture, padded GEMM shapes
      expect(padded[i]!.isGreedy).toBe(r.isGreedy);
    }
  });

  it('cuts long inputs from the left at maxLength', async () => {
    const r = requests[3]!;
    const e = encodePair(tokenizer, r);
    const maxLength = e.continuationIds.length + 2;
    const [cut] = await scoreRequests(session, tokenizer, [r], { maxLength });
    const keep = [...e.contextIds, ...e.continuationIds].slice(-(maxLength + 1));
    const ref = await reference(keep.slice(0, keep.length - e.continuationIds.length), e.continuationIds);
    expect(Math.abs(cut!.logprob - ref)).toBeLessThan(1e-6);
  });
});
