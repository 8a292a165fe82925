import { createSession, ort, type Session } from '@llm-bip/runtime';
import { fixtures } from '@llm-bip/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EvalError } from './errors.js';
import { evaluatePerplexity, splitWindows, windowNlls } from './perplexity.js';
import { loadTokenizer } from './tokenizer.js';

// Independent reference: raw ORT call, float16 decoded here, log-softmax in float64.
function half(h: number): number {
  const e = (h >> 10) & 31;
  const m = h & 1023;
  const v = e === 0 ? m * 2 ** -24 : (1 + m / 1024) * 2 ** (e - 15);
  return h & 0x8000 ? -v : v;
}

async function referenceWindowNll(session: Session, window: number[]): Promise<number> {
  const n = window.length;
  const ids = new ort.Tensor('int64', BigInt64Array.from(window.map(BigInt)), [1, n]);
  const mask = new ort.Tensor('int64', new BigInt64Array(n).fill(1n), [1, n]);
  const out = await session.run({ input_ids: ids, attention_mask: mask });
  const logits = out.logits!;
  expect(logits.type).toBe('float16');
  const bits = logits.data as Uint16Array;
  const vocab = logits.dims[2]!;
  let nll = 0;
  for (let t = 0; t + 1 < n; t++) {
    const row = Array.from(bits.subarray(t * vocab, (t + 1) * vocab), half);
    const max = Math.max(...row);
    const lse = max + Math.log(row.reduce((s, x) => s + Math.exp(x - max), 0));
    nll += lse - row[window[t + 1]!]!;
  }
  return nll;
}

describe('splitWindows', () => {
  const ids = Array.from({ length: 1000 }, (_, i) => i);
  it('cuts non-overlapping windows and drops the trailing partial one', () => {
    const w = splitWindows(ids, 128);
    expect(w).toHaveLength(7); // 1000 // 128
    expect(w[0]).toEqual(ids.slice(0, 128));
    expect(w[6]).toEqual(ids.slice(768, 896));
    expect(w.flat()).toEqual(ids.slice(0, 896));
  });
  it('takes any length and a limit', () => {
    expect(splitWindows(ids, 333).map((x) => x.length)).toEqual([333, 333, 333]);
    expect(splitWindows(ids, 1000)).toHaveLength(1);
    expect(splitWindows(ids, 1001)).toHaveLength(0);
    expect(splitWindows(ids, 100, 4)).toHaveLength(4);
    expect(splitWindows(ids, 100, 50)).toHaveLength(10);
  });
  it('rejects nonsense', () => {
    expect(() => splitWindows(ids, 1)).toThrow(EvalError);
    expect(() => splitWindows(ids, 128, 0)).toThrow(/--limit must be a positive integer/);
  });
});

describe('perplexity on the exported tiny model', () => {
  let session: Session;
  const tokenizer = loadTokenizer(fixtures.tinyHf);
  const text = [
    ' = Valkyria Chronicles III = \n',
    '',
    ' Senjō no Valkyria 3 : Unrecorded Chronicles is a tactical role @-@ playing video game developed by Sega and Media.Vision for the PlayStation Portable . \n',
    ' The game began development in 2010 , carrying over a large portion of the work done on Valkyria Chronicles II . While it retained the standard features of the series , it also underwent multiple adjustments , such as making the game more forgiving for series newcomers . \n',
  ].join('\n\n');
  const ids = tokenizer.encode(text);

  beforeAll(async () => {
    session = await createSession(fixtures.torchscript, { ep: 'cpu', threads: 1 });
  });
  afterAll(() => session.release());

  it('one window: NLL equals a float64 recomputation from the raw ORT logits', async () => {
    const window = ids.slice(0, 64);
    const [ours] = await windowNlls(session, [window]);
    const ref = await referenceWindowNll(session, window);
    expect(Math.abs(ours! - ref) / ref).toBeLessThan(1e-6);
    const result = await evaluatePerplexity(session, tokenizer, { name: 'sample', path: '-', text }, { seqLen: 64, limit: 1 });
    expect(result.windows).toBe(1);
    expect(result.predictedTokens).toBe(63);
    expect(Math.abs(result.ppl - Math.exp(ref / 63)) / result.ppl).toBeLessThan(1e-6);
  });

  it('batching does not change per-window NLLs; ppl = exp(mean token NLL)', async () => {
    const windows = splitWindows(ids, 24);
    expect(windows.length).toBeGreaterThanOrEqual(4);
    const one = await windowNlls(session, windows, { batchSize: 1 });
    const three = await windowNlls(session, windows, { batchSize: 3 });
    one.forEach((x, i) => expect(Math.abs(three[i]! - x) / x).toBeLessThan(1e-4));
    const result = await evaluatePerplexity(session, tokenizer, { name: 'sample', path: '-', text }, { seqLen: 24, batchSize: 4 });
    expect(result.windows).toBe(windows.length);
    expect(result.windowsAvailable).toBe(Math.floor(ids.length / 24));
    expect(result.datasetTokens).toBe(ids.length);
    const expected = Math.exp(one.reduce((a, b) => a + b, 0) / (windows.length * 23));
    expect(Math.abs(result.ppl - expected) / expected).toBeLessThan(1e-4);
  });

  it('window splitting: each window is scored on its own (no context crosses windows)', async () => {
    const windows = splitWindows(ids, 24).slice(0, 2);
    const [second] = await windowNlls(session, [windows[1]!]);
    const joined = await referenceWindowNll(session, windows[1]!);
    expect(Math.abs(second! - joined) / joined).toBeLessThan(1e-6);
    // the same tokens scored with the first window as context give a different (lower) NLL
    const both = await referenceWindowNll(session, [...windows[0]!, ...windows[1]!]);
    const firstAlone = await referenceWindowNll(session, windows[0]!);
    expect(both - firstAlone).not.toBeCloseTo(second!, 3);
  });

  it('reports progress with windows done and ETA', async () => {
    const events: { done: number; total: number; etaSec: number }[] = [];
    await evaluatePerplexity(session, tokenizer, { name: 'sample', path: '-', text }, { seqLen: 16, limit: 4, batchSize: 2, onProgress: (e) => events.push(e) });
    expect(events.map((e) => e.done)).toEqual([2, 4]);
    expect(events.every((e) => e.total === 4)).toBe(true);
    expect(events.at(-1)!.etaSec).toBe(0);
  });

  it('a KV-cache export (genai builder, empty pasts) gives the same window NLLs', async () => {
    const genai = await createSession(fixtures.genai, { ep: 'cpu', threads: 1 });
    const windows = splitWindows(ids, 32).slice(0, 2);
    const a = await windowNlls(session, windows, { batchSize: 2 });
    const b = await windowNlls(genai, windows, { batchSize: 2 });
    a.forEach((x, i) => expect(Math.abs(b[i]! - x) / x).toBeLessThan(5e-3));
    await genai.release();
  });
});
