import { readFileSync } from 'node:fs';
import { fixtures } from '@llm-bip/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emptyPast, forwardLogits, kvLayoutBesideModel, kvSlots } from './causal-lm.js';
import { greedyDecode } from './decode.js';
import { createSession, type Session } from './session.js';
import { hostRequestsPosted } from './session-host.js';
import { makeTokenBatch } from './tensors.js';

interface Reference {
  input_ids: number[];
  logits_fp32_first5: number[][];
  argmax: number[];
}
const reference = JSON.parse(readFileSync(fixtures.reference, 'utf8')) as Reference;

describe('causal LM helpers on the exported fixtures', () => {
  let torchscript: Session;
  let genai: Session;
  beforeAll(async () => {
    torchscript = await createSession(fixtures.torchscript, { ep: 'cpu', threads: 1 });
    genai = await createSession(fixtures.genai, { ep: 'cpu', threads: 1 });
  });
  afterAll(async () => {
    await torchscript.release();
    await genai.release();
  });

  it('float16 logits read as float32 match the PyTorch reference', async () => {
    for (const s of [torchscript, genai]) {
      const view = await forwardLogits(s, makeTokenBatch([reference.input_ids]));
      expect([view.batch, view.seq, view.vocab]).toEqual([1, 13, 8192]);
      reference.logits_fp32_first5.forEach((row, t) => {
        row.forEach((x, v) => expect(Math.abs(view.data[t * 8192 + v]! - x)).toBeLessThan(0.05));
      });
      // argmax per position equals PyTorch's
      const argmax = reference.input_ids.map((_, t) => {
        let best = 0;
        for (let v = 1; v < 8192; v++) if (view.data[t * 8192 + v]! > view.data[t * 8192 + best]!) best = v;
        return best;
      });
      expect(argmax).toEqual(reference.argmax);
    }
  });

  it('greedy decoding with the KV cache equals decoding without it', async () => {
    expect(kvSlots(genai)).toHaveLength(12);
    expect(kvSlots(torchscript)).toHaveLength(0);
    const prompt = reference.input_ids.slice(0, 6);
    const cached = await greedyDecode(genai, [prompt, prompt], { maxNewTokens: 8 });
    const recomputed = await greedyDecode(genai, [prompt], { maxNewTokens: 8, useKvCache: false });
    const torch = await greedyDecode(torchscript, [prompt], { maxNewTokens: 8 });
    expect(cached.usedKvCache).toBe(true);
    expect(recomputed.usedKvCache).toBe(false);
    expect(cached.tokens[0]).toHaveLength(8);
    expect(cached.tokens[0]).toEqual(recomputed.tokens[0]);
    expect(cached.tokens[1]).toEqual(cached.tokens[0]);
    expect(torch.tokens[0]).toEqual(cached.tokens[0]);
    expect(cached.decodeSteps).toBe(7);
    // the first generated token is PyTorch's argmax at the last prompt position
    expect(cached.tokens[0]![0]).toBe(reference.argmax[5]);
  });

  it('the loop on the host thread gives the per-step path\'s tokens, in one message per call', async () => {
    const prompt = reference.input_ids.slice(0, 6);
    const other = reference.input_ids.slice(3, 9);
    for (const useKvCache of [true, false]) {
      const messages: number[] = [];
      for (const maxNewTokens of [3, 9]) {
        const before = hostRequestsPosted();
        const hosted = await greedyDecode(genai, [prompt, other], { maxNewTokens, useKvCache });
        messages.push(hostRequestsPosted() - before);
        const stepped = await greedyDecode(genai, [prompt, other], { maxNewTokens, useKvCache, perStep: true });
        expect(hosted.tokens).toEqual(stepped.tokens);
        expect(hosted.tokens.map((r) => r.length)).toEqual([maxNewTokens, maxNewTokens]);
        expect(hosted.decodeSteps).toBe(stepped.decodeSteps);
        expect(hosted.usedKvCache).toBe(useKvCache);
      }
      // one generate request per call whatever the length; the per-step path posts one run per pass
      expect(messages).toEqual([1, 1]);
    }
    const before = hostRequestsPosted();
    await greedyDecode(genai, [prompt], { maxNewTokens: 5, perStep: true });
    expect(hostRequestsPosted() - before).toBe(5);
    // an end-of-sequence id stops a row on the host thread as on the caller's
    const eos = (await greedyDecode(genai, [prompt], { maxNewTokens: 8 })).tokens[0]![2]!;
    const stopped = await greedyDecode(genai, [prompt, other], { maxNewTokens: 8, eosTokenId: eos });
    expect(stopped.tokens).toEqual((await greedyDecode(genai, [prompt, other], { maxNewTokens: 8, eosTokenId: eos, perStep: true })).tokens);
    expect(stopped.tokens[0]).toHaveLength(3);
    // the other row goes on to its own end-of-sequence id or to maxNewTokens (row 0 stopping early once hung the loop)
    const end = stopped.tokens[1]!.indexOf(eos);
    expect(stopped.tokens[1]).toHaveLength(end >= 0 ? end + 1 : 8);
  });

  it('right padding leaves the logits of real positions unchanged', async () => {
    const short = reference.input_ids.slice(0, 5);
    const alone = await forwardLogits(torchscript, makeTokenBatch([short]));
    const padded = await forwardLogits(torchscript, makeTokenBatch([short, reference.input_ids]));
    for (let i = 0; i < 5 * 8192; i++) expect(Math.abs(padded.data[i]! - alone.data[i]!)).toBeLessThan(1e-2);
  });

  it('empty pasts take heads/head_dim from genai_config.json, or say what to pass', () => {
    expect(kvLayoutBesideModel(fixtures.genai)).toEqual({ numKvHeads: 8, headDim: 32 });
    const slot = kvSlots(genai)[0]!;
    expect(emptyPast(slot, 2, { headDim: 32 }).dims).toEqual([2, 8, 0, 32]);
    expect(() => emptyPast(slot, 1)).toThrow(/head dim is symbolic \("kv_cache_dim"\); pass kv: \{ headDim \}/);
  });
});
