import { readFileSync } from 'node:fs';
import { fixtures } from '@llm-bip/testing';
import { describe, expect, it } from 'vitest';
import { forwardFeeds, kvSlots } from './causal-lm.js';
import type { GreedyLoopResult } from './decode-loop.js';
import { greedyDecode } from './decode.js';
import { ort } from './ort.js';
import { createSession, ortOptions } from './session.js';
import { hostRequest } from './session-host.js';
import type { WireTensor } from './session-wire.js';
import { makeTokenBatch } from './tensors.js';

const ids = (JSON.parse(readFileSync(fixtures.reference, 'utf8')) as { input_ids: number[] }).input_ids;

function wire(feeds: Record<string, ort.Tensor>): Record<string, WireTensor> {
  return Object.fromEntries(Object.entries(feeds).map(([n, t]) => [n, { type: t.type, dims: [...t.dims], data: t.data }]));
}

describe('sessions whose outputs have preferred locations (kvOnDevice on WebGPU)', () => {
  it('1.29 fails a run that fetches fewer outputs than the one before; the host fetches all, and decodes the same tokens', async () => {
    const presentKey = { 'present.0.key': 'gpu-buffer' as const };
    // the binding's defect the host works around (on the CPU EP ORT returns host tensors, the binding path is the same)
    const raw = await ort.InferenceSession.create(fixtures.genai, { executionProviders: ['cpu'], intraOpNumThreads: 1, preferredOutputLocation: presentKey });
    const plain = await createSession(fixtures.genai, { ep: 'cpu', threads: 1 });
    const feeds = forwardFeeds(plain, makeTokenBatch([ids.slice(0, 4)]));
    await raw.run(feeds);
    await expect(raw.run(feeds, ['logits'])).rejects.toThrow(/Output count mismatch/);
    await raw.release();

    const { sid } = (await hostRequest({ op: 'create', path: fixtures.genai, envLogLevel: 'fatal', options: { ...ortOptions('cpu', { threads: 1 }), preferredOutputLocation: presentKey } })) as { sid: number };
    try {
      const prompt = ids.slice(0, 6);
      const plan = {
        prompts: [prompt, prompt],
        maxNewTokens: 6,
        logits: 'logits',
        kv: kvSlots(plain).map((s) => ({ input: s.input, output: s.output })),
        tokenInputs: ['input_ids', 'attention_mask', 'position_ids'],
      };
      const hosted = (await hostRequest({ op: 'generate', sid, plan, feeds: wire(forwardFeeds(plain, makeTokenBatch(plan.prompts))) })) as GreedyLoopResult;
      expect(hosted.tokens).toEqual((await greedyDecode(plain, [prompt, prompt], { maxNewTokens: 6 })).tokens);
      // a logits-only run after the decode's all-output runs: answered, only what was asked, as the plain session's
      const out = (await hostRequest({ op: 'run', sid, feeds: wire(feeds), outputNames: ['logits'] })) as Record<string, WireTensor>;
      expect(Object.keys(out)).toEqual(['logits']);
      const ref = await plain.run(feeds, ['logits']);
      expect(Array.from(out.logits!.data as Uint16Array)).toEqual(Array.from(ref.logits!.data as Uint16Array));
    } finally {
      await hostRequest({ op: 'release', sid });
      await plain.release();
    }
  });

  it('kvOnDevice names the present.* outputs for WebGPU only', () => {
    const names = ['present.0.key', 'present.0.value'];
    expect(ortOptions('webgpu', {}, names).preferredOutputLocation).toEqual({ 'present.0.key': 'gpu-buffer', 'present.0.value': 'gpu-buffer' });
    expect(ortOptions('cuda', {}, names).preferredOutputLocation).toBeUndefined();
    expect(ortOptions('cpu', {}, names).preferredOutputLocation).toBeUndefined();
  });
});
