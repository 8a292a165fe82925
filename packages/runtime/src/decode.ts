import { forwardFeeds, kvSlots, logitsOutputName, logitsView, positionTensor, type KvLayout, type LogitsView } from './causal-lm.js';
import { RuntimeError } from './errors.js';
import type { Feeds, Session } from './session.js';
import { int64Tensor, makeTokenBatch } from './tensors.js';

export interface GreedyOptions {
  maxNewTokens: number;
  /** Stop a row once it emits this id (the id is kept in its output). */
  eosTokenId?: number;
  /** Use the KV cache when the model has one (default true); false recomputes the whole sequence each step. */
  useKvCache?: boolean;
  kv?: KvLayout;
}

export interface GreedyResult {
  /** Generated ids per row (without the prompt). */
  tokens: number[][];
  usedKvCache: boolean;
  prefillMs: number;
  /** Time of the steps after the first token. */
  decodeMs: number;
  /** Number of forward passes after prefill. */
  decodeSteps: number;
}

function argmaxAt(view: LogitsView, b: number, t: number): number {
  const base = (b * view.seq + t) * view.vocab;
  let best = 0;
  let bestV = -Infinity;
  for (let v = 0; v < view.vocab; v++) {
    const x = view.data[base + v]!;
    if (x > bestV) {
      bestV = x;
      best = v;
    }
  }
  return best;
}

/**
 * Greedy decoding. With a KV cache the prompt is prefilled once and each step feeds one token plus the
 * previous present.N.* outputs as past_key_values.N.*; without one, every step re-runs the sequence.
 * Prompts in one call must have the same length (no left padding).
 */
export async function greedyDecode(session: Session, prompts: readonly (readonly number[])[], opts: GreedyOptions): Promise<GreedyResult> {
  if (prompts.length === 0) throw new RuntimeError('greedyDecode: no prompts');
  const p = prompts[0]!.length;
  if (p === 0 || prompts.some((r) => r.length !== p)) {
    throw new RuntimeError('greedyDecode: prompts must be non-empty and of equal length (batch rows of different length need left padding, not supported)');
  }
  const batch = prompts.length;
  const slots = kvSlots(session);
  const useKv = (opts.useKvCache ?? true) && slots.length > 0;
  const logitsName = logitsOutputName(session);
  const tokens: number[][] = prompts.map(() => []);
  const done = new Array<boolean>(batch).fill(false);
  const seqs = prompts.map((r) => [...r]);
  let prefillMs = 0;
  let decodeMs = 0;
  let steps = 0;
  let past: Feeds = {};

  const pick = (view: LogitsView, t: (b: number) => number): number[] =>
    seqs.map((_, b) => (done[b] ? (opts.eosTokenId ?? 0) : argmaxAt(view, b, t(b))));

  const record = (next: number[]): boolean => {
    next.forEach((id, b) => {
      if (done[b]) return;
      tokens[b]!.push(id);
      seqs[b]!.push(id);
      if (opts.eosTokenId !== undefined && id === opts.eosTokenId) done[b] = true;
    });
    return done.every(Boolean) || tokens[0]!.length >= opts.maxNewTokens;
  };

  // prefill
  let t0 = performance.now();
  const outputNames = useKv ? [logitsName, ...slots.map((s) => s.output)] : [logitsName];
  let out = await session.run(forwardFeeds(session, makeTokenBatch(seqs), opts.kv), outputNames);
  prefillMs = performance.now() - t0;
  let view = logitsView(out[logitsName]!);
  if (opts.maxNewTokens <= 0) return { tokens, usedKvCache: useKv, prefillMs, decodeMs, decodeSteps: 0 };
  let finished = record(pick(view, () => p - 1));
  if (useKv) for (const s of slots) past[s.input] = out[s.output]!;

  while (!finished) {
    t0 = performance.now();
    const len = seqs[0]!.length;
    if (useKv) {
      const feeds: Feeds = { ...past };
      for (const name of session.inputNames) {
        if (name === 'input_ids') feeds[name] = int64Tensor(seqs.map((s) => s[len - 1]!), [batch, 1]);
        else if (name === 'attention_mask') feeds[name] = int64Tensor(new Array<number>(batch * len).fill(1), [batch, len]);
        else if (name === 'position_ids') feeds[name] = positionTensor(batch, len - 1, 1);
      }
      out = await session.run(feeds, outputNames);
      view = logitsView(out[logitsName]!);
      past = {};
      for (const s of slots) past[s.input] = out[s.output]!;
      finished = record(pick(view, () => 0));
    } else {
      out = await session.run(forwardFeeds(session, makeTokenBatch(seqs), opts.kv), outputNames);
      view = logitsView(out[logitsName]!);
      finished = record(pick(view, () => len - 1));
    }
    decodeMs += performance.now() - t0;
    steps++;
  }
  return { tokens, usedKvCache: useKv, prefillMs, decodeMs, decodeSteps: steps };
}
