import { forwardFeeds, greedyDecode, logitsOutputName, makeTokenBatch, type KvLayout, type Session } from '@llm-bip/runtime';
import { EvalError } from './errors.js';
import { ProgressTracker, type ProgressCallback } from './progress.js';

export interface SpeedOptions {
  /** Prefill grid: every batch x seq pair is timed. Default batch [1, 4], seq [128, 512]. */
  batch?: number[];
  seq?: number[];
  /** Untimed runs before each grid point (default 1). */
  warmup?: number;
  /** Timed runs per grid point; the median is reported (default 3). */
  iterations?: number;
  /** Decode benchmark; default batch 1, 32-token prompt, 64 new tokens. Pass null to skip. */
  decode?: { batch: number; promptLen: number; newTokens: number } | null;
  /** Token ids are drawn below this (default: the model's vocab, at most 1000). */
  maxTokenId?: number;
  kv?: KvLayout;
  onProgress?: ProgressCallback;
}

export interface PrefillPoint {
  batch: number;
  seq: number;
  medianMs: number;
  tokensPerSec: number;
}

export interface SpeedResult {
  ep: string;
  loadMs: number;
  prefill: PrefillPoint[];
  decode?: {
    batch: number;
    promptLen: number;
    newTokens: number;
    usedKvCache: boolean;
    /** Generated tokens per second after the first (the steps that use the cache). */
    tokensPerSec: number;
    msPerStep: number;
    prefillMs: number;
  };
  /** Peak resident set size of this process so far (MiB). */
  peakRssMiB: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Deterministic pseudo-random token rows (the speed of a dense model does not depend on the ids). */
function tokenRows(batch: number, seq: number, maxId: number, seed: number): number[][] {
  let x = seed >>> 0 || 1;
  const next = (): number => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % (maxId - 3);
  };
  return Array.from({ length: batch }, () => Array.from({ length: seq }, () => 3 + next()));
}

function vocabOf(session: Session): number {
  const meta = session.outputMetadata.find((m) => m.name === logitsOutputName(session));
  const last = meta && meta.isTensor ? meta.shape[meta.shape.length - 1] : undefined;
  return typeof last === 'number' && last > 3 ? last : 1000;
}

/** Prefill throughput over a batch x seq grid, decode throughput with the KV cache, load time, peak RSS. */
export async function benchmarkSpeed(session: Session, opts: SpeedOptions = {}): Promise<SpeedResult> {
  const batches = opts.batch ?? [1, 4];
  const seqs = opts.seq ?? [128, 512];
  const warmup = opts.warmup ?? 1;
  const iterations = opts.iterations ?? 3;
  if (iterations < 1) throw new EvalError(`iterations must be >= 1, got ${iterations}`);
  const maxId = Math.min(opts.maxTokenId ?? vocabOf(session), 1000);
  const logits = logitsOutputName(session);
  const points = batches.flatMap((b) => seqs.map((s) => ({ b, s })));
  const progress = new ProgressTracker(opts.onProgress, 'speed', 'prefill', points.length, 'runs');
  const prefill: PrefillPoint[] = [];
  for (const [i, { b, s }] of points.entries()) {
    const feeds = forwardFeeds(session, makeTokenBatch(tokenRows(b, s, maxId, 1 + i)), opts.kv);
    for (let w = 0; w < warmup; w++) await session.run(feeds, [logits]);
    const times: number[] = [];
    for (let it = 0; it < iterations; it++) {
      const t0 = performance.now();
      await session.run(feeds, [logits]);
      times.push(performance.now() - t0);
    }
    const ms = median(times);
    prefill.push({ batch: b, seq: s, medianMs: ms, tokensPerSec: (b * s) / (ms / 1000) });
    progress.update(i + 1, b * s * (warmup + iterations));
  }
  const result: SpeedResult = { ep: session.ep, loadMs: session.loadMs, prefill, peakRssMiB: 0 };
  const d = opts.decode === undefined ? { batch: 1, promptLen: 32, newTokens: 64 } : opts.decode;
  if (d) {
    if (d.newTokens < 2) throw new EvalError('decode benchmark needs newTokens >= 2');
    const prompts = tokenRows(d.batch, d.promptLen, maxId, 99);
    await greedyDecode(session, prompts, { maxNewTokens: 2, kv: opts.kv }); // warm-up
    const r = await greedyDecode(session, prompts, { maxNewTokens: d.newTokens, kv: opts.kv });
    result.decode = {
      ...d,
      usedKvCache: r.usedKvCache,
      tokensPerSec: (d.batch * r.decodeSteps) / (r.decodeMs / 1000),
      msPerStep: r.decodeMs / r.decodeSteps,
      prefillMs: r.prefillMs,
    };
  }
  result.peakRssMiB = process.resourceUsage().maxRSS / 1024;
  return result;
}
