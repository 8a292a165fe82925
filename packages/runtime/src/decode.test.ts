import { readFileSync } from 'node:fs';
import { fixtures } from '@llm-bip/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emptyPast, forwardLogits, kvLayoutBesideModel, kvSlots } from './causal-lm.js';
import { greedyDecode } from './decode.js';
import { createSession, type Session } from './session.js';
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
