import { chunk, makeTokenBatch, type KvLayout, type Session, type TokenBatch } from '@llm-bip/runtime';
import { EvalError } from './errors.js';
import { batchProgress, scoreBatches, type BatchScorer, type BatchScoring, type TargetBatch } from './token-scores.js';

import { ProgressTracker, type ProgressCallback } from './progress.js';
import { encodeCached } from './token-cache.js';
import type { EvalTokenizer } from './tokenizer.js';
import type { TextDataset } from './datasets/perplexity-sets.js';

export interface PerplexityOptions {
  /** Window length in tokens (default 128; 2048 for SliceGPT-style numbers). */
  seqLen?: number;
  /** Evaluate only the first N windows. */
  limit?: number;
  /** Windows per forward pass (default 4). */
  batchSize?: number;
  /** Cache token ids here (keyed by tokenizer + text hash). */
  cacheDir?: string;
  kv?: KvLayout;
  onProgress?: ProgressCallback;
}

export interface PerplexityResult {
  dataset: string;
  ppl: number;
  /** Mean NLL per predicted token (nats). */
  meanNll: number;
  seqLen: number;
  windows: number;
  /** Windows in the whole set (before --limit). */
  windowsAvailable: number;
  /** Predicted tokens: windows * (seqLen - 1). */
  predictedTokens: number;
  /** Tokens in the tokenized set, BOS included. */
  datasetTokens: number;
  elapsedMs: number;
  tokensPerSec: number;
  /** NLL sum of every window, in order (for comparing runs and debugging). */
  windowNll: number[];
}

/**
 * Non-overlapping windows of `seqLen` tokens; the trailing partial window is dropped
 * (LLM-Pruner's ppl protocol: nsamples = numel // seq_len).
 */
export function splitWindows(ids: readonly number[], seqLen: number, limit?: number): number[][] {
  if (!Number.isInteger(seqLen) || seqLen < 2) throw new EvalError(`window length must be an integer >= 2, got ${seqLen}`);
  let n = Math.floor(ids.length / seqLen);
  if (limit !== undefined) {
    if (!Number.isInteger(limit) || limit < 1) throw new EvalError(`--limit must be a positive integer, got ${limit}`);
    n = Math.min(n, limit);
  }
  const out: number[][] = [];
  for (let i = 0; i < n; i++) out.push(ids.slice(i * seqLen, (i + 1) * seqLen));
  return out;
}

/** Windows in batches of `batchSize`, each with its targets: position t predicts token t+1. */
export function targetBatches(windows: readonly number[][], batchSize: number): { windows: readonly number[][]; scored: TargetBatch }[] {
  return chunk(windows, batchSize).map((group) => {
    const batch = makeTokenBatch(group);
    // the last position of each window (and padding) predicts nothing: id 0
    const targets = new Int32Array(batch.batch * batch.seq);
    group.forEach((w, b) => {
      for (let t = 0; t + 1 < w.length; t++) targets[b * batch.seq + t] = w[t + 1]!;
    });
    return { windows: group, scored: { batch, targets } };
  });
}

/** NLL sums of a batch's windows from its scorer. */
function batchNlls(group: readonly number[][], seq: number, scorer: BatchScorer): number[] {
  return group.map((w, b) => {
    let nll = 0;
    for (let t = 0; t + 1 < w.length; t++) nll -= scorer.logprobAt(b * seq + t, w[t + 1]!);
    return nll;
  });
}

/**
 * NLL sum of each window: every window predicts its tokens 2..L from the ones before it. A session with
 * the scoring head (createScoringSession) returns the log-probabilities from the graph; any other session
 * returns logits, reduced in float64 JS (scoreBatch). A BatchScoring (block by block) scores every batch
 * in one call, with the same reduction.
 */
export async function windowNlls(
  source: Session | BatchScoring,
  windows: readonly number[][],
  opts: Pick<PerplexityOptions, 'batchSize' | 'kv'> & { onBatch?: (done: number, tokens: number) => void } = {},
): Promise<number[]> {
  const batches = targetBatches(windows, opts.batchSize ?? 4);
  const nlls: number[][] = [];
  await scoreBatches(
    source,
    batches.map((b) => b.scored),
    (i, scorer) => (nlls[i] = batchNlls(batches[i]!.windows, batches[i]!.scored.batch.seq, scorer)),
    batchProgress(
      batches.map((b) => b.windows.length),
      batches.map((b) => b.windows.reduce((a, w) => a + w.length, 0)),
      opts.onBatch,
    ),
    opts.kv,
  );
  return nlls.flat();
}

/** Perplexity of a text set with the peers' protocol: tokenize once, windows, exp(mean token NLL). */
export async function evaluatePerplexity(session: Session | BatchScoring, tokenizer: EvalTokenizer, dataset: TextDataset, opts: PerplexityOptions = {}): Promise<PerplexityResult> {
  const seqLen = opts.seqLen ?? 128;
  const { ids } = encodeCached(tokenizer, dataset.text, opts.cacheDir ? { cacheDir: opts.cacheDir } : {});
  const windows = splitWindows(ids, seqLen, opts.limit);
  if (windows.length === 0) throw new EvalError(`${dataset.name}: ${ids.length} tokens make no window of ${seqLen}`);
  const progress = new ProgressTracker(opts.onProgress, 'perplexity', dataset.name, windows.length, 'windows');
  const nlls = await windowNlls(session, windows, { batchSize: opts.batchSize, kv: opts.kv, onBatch: (d, t) => progress.update(d, t) });
  const predicted = windows.length * (seqLen - 1);
  const meanNll = nlls.reduce((a, b) => a + b, 0) / predicted;
  const elapsedMs = progress.elapsedMs();
  return {
    dataset: dataset.name,
    ppl: Math.exp(meanNll),
    meanNll,
    seqLen,
    windows: windows.length,
    windowsAvailable: Math.floor(ids.length / seqLen),
    predictedTokens: predicted,
    datasetTokens: ids.length,
    elapsedMs,
    tokensPerSec: (windows.length * seqLen) / (elapsedMs / 1000),
    windowNll: nlls,
  };
}
