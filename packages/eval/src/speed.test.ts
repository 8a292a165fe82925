import { createSession } from '@llm-bip/runtime';
import { fixtures } from '@llm-bip/testing';
import { describe, expect, it } from 'vitest';
import { formatReport } from './results.js';
import { benchmarkSpeed } from './speed.js';

describe('benchmarkSpeed', () => {
  it('times a prefill grid and KV-cache decoding', async () => {
    const session = await createSession(fixtures.genai, { ep: 'cpu', threads: 1 });
    const r = await benchmarkSpeed(session, { batch: [1, 2], seq: [16], iterations: 1, warmup: 0, decode: { batch: 1, promptLen: 8, newTokens: 4 } });
    expect(r.prefill.map((p) => [p.batch, p.seq])).toEqual([
      [1, 16],
      [2, 16],
    ]);
    for (const p of r.prefill) {
      expect(p.medianMs).toBeGreaterThan(0);
      expect(p.tokensPerSec).toBeCloseTo((p.batch * p.seq * 1000) / p.medianMs, 6);
    }
    expect(r.decode!.usedKvCache).toBe(true);
    expect(r.decode!.tokensPerSec).toBeGreaterThan(0);
    expect(r.ep).toBe('cpu');
    expect(r.loadMs).toBe(session.loadMs);
    expect(r.peakRssMiB).toBeGreaterThan(10);
    expect(formatReport({ speed: r, config: {} })).toMatch(/decode: [\d.]+ tok\/s \(batch 1, 4 new tokens, KV cache\)/);
    await session.release();
  });
});
