/**
 * The greedy decoding loop, written once and run in either place: on the session host thread
 * (`generate`, one message per call: the present.* KV tensors are fed back where ORT returned them,
 * never crossing threads) or on the caller's thread through `session.run` (one message per step; the
 * reference path). Imports nothing at run time, so session-worker.ts can load it from dist and, through
 * tsx, from src alike.
 */
import type { Tensor } from 'onnxruntime-node';

/** What one greedy decoding call asks for: plain data, so it crosses to the host thread as it is. */
export interface GreedyPlan {
  /** Prompt ids, all rows of one length. */
  prompts: number[][];
  maxNewTokens: number;
  /** Stop a row once it emits this id (the id is kept in its output). */
  eosTokenId?: number;
  /** The logits output. */
  logits: string;
  /** KV pairs fed back every step (past input <- present output); empty: every step re-runs the whole sequence. */
  kv: Array<{ input: string; output: string }>;
  /** Which of input_ids, attention_mask, position_ids the model takes. */
  tokenInputs: string[];
}

export interface GreedyLoopResult {
  /** Generated ids per row (without the prompt). */
  tokens: number[][];
  prefillMs: number;
  /** Time of the steps after the first token. */
  decodeMs: number;
  /** Number of forward passes after prefill. */
  decodeSteps: number;
}

/** The loop's view of a session: one forward pass, and int64 tensors. */
export interface LoopIo {
  run(feeds: Record<string, Tensor>, fetches: readonly string[]): Promise<Record<string, Tensor>>;
  int64(values: BigInt64Array, dims: number[]): Tensor;
}

/** Token inputs whose names the loop knows how to fill (as makeTokenBatch does for rows of one length). */
export const TOKEN_INPUTS = ['input_ids', 'attention_mask', 'position_ids'] as const;

/**
 * Index of the largest logit in data[base, base + vocab): the first one on ties, NaN never wins, 0 when
 * every value is NaN. float16 logits (onnxruntime-node's Uint16Array bit patterns) are compared without
 * decoding them: mapping the bits to a key that orders like the values does (negatives mirrored below
 * zero, so -0 and +0 tie as they compare equal).
 */
export function argmaxRow(data: Float32Array | Uint16Array, base: number, vocab: number): number {
  let best = 0;
  let bestV = -Infinity;
  if (data instanceof Float32Array) {
    for (let v = 0; v < vocab; v++) {
      const x = data[base + v]!;
      if (x > bestV) {
        bestV = x;
        best = v;
      }
    }
    return best;
  }
  for (let v = 0; v < vocab; v++) {
    const bits = data[base + v]!;
    if ((bits & 0x7c00) === 0x7c00 && (bits & 0x03ff) !== 0) continue; // NaN
    const key = bits & 0x8000 ? -(bits & 0x7fff) : bits;
    if (key > bestV) {
      bestV = key;
      best = v;
    }
  }
  return best;
}

function logitsData(t: Tensor, name: string): Float32Array | Uint16Array {
  if (t.dims.length !== 3) throw new Error(`${name}: expected [batch, seq, vocab], got [${t.dims.join(', ')}]`);
  if (t.type === 'float32' || t.type === 'float16') return t.data as Float32Array | Uint16Array;
  throw new Error(`${name}: unsupported logits dtype ${t.type}`);
}

/**
 * Greedy decoding. `prefillFeeds` are the first pass's feeds (the prompts, and empty pasts where the model
 * has a KV cache). With `plan.kv`, each step feeds the last token and the previous present.* outputs as they
 * came from `io.run` (host arrays, or device buffers where the session keeps them there); without, every step
 * re-runs the whole sequence with the prefill's empty pasts. Tensors the loop got from `io.run` are disposed
 * once used (a device buffer is freed then; a host tensor just lets go of its data).
 */
export async function greedyLoop(plan: GreedyPlan, prefillFeeds: Record<string, Tensor>, io: LoopIo): Promise<GreedyLoopResult> {
  const batch = plan.prompts.length;
  const p = plan.prompts[0]!.length;
  const useKv = plan.kv.length > 0;
  const fetches = [plan.logits, ...plan.kv.map((s) => s.output)];
  const tokens: number[][] = plan.prompts.map(() => []);
  const seqs = plan.prompts.map((r) => [...r]);
  const done = new Array<boolean>(batch).fill(false);
  // the empty pasts of a cache-less re-run are the caller's: reused every step, never disposed here
  const staticFeeds = Object.fromEntries(Object.entries(prefillFeeds).filter(([name]) => !plan.tokenInputs.includes(name)));

  /** ids seqs[b][from, to), mask over [0, to), positions from..to-1: rows of one length need no padding */
  const tokenFeeds = (from: number, to: number): Record<string, Tensor> => {
    const n = to - from;
    const feeds: Record<string, Tensor> = {};
    for (const name of plan.tokenInputs) {
      const values = new BigInt64Array(batch * (name === 'attention_mask' ? to : n));
      if (name === 'input_ids') seqs.forEach((s, b) => { for (let t = 0; t < n; t++) values[b * n + t] = BigInt(s[from + t]!); });
      else if (name === 'attention_mask') values.fill(1n);
      else for (let b = 0; b < batch; b++) for (let t = 0; t < n; t++) values[b * n + t] = BigInt(from + t);
      feeds[name] = io.int64(values, [batch, name === 'attention_mask' ? to : n]);
    }
    return feeds;
  };

  let passes = 0;
  /** argmax at position `t` of each row still going; records it; true when decoding is over */
  const step = (out: Record<string, Tensor>, t: number): boolean => {
    const logits = out[plan.logits];
    if (!logits) throw new Error(`the run returned no ${plan.logits}`);
    const data = logitsData(logits, plan.logits);
    const [, seq, vocab] = logits.dims as [number, number, number];
    for (let b = 0; b < batch; b++) {
      if (done[b]) continue;
      const id = argmaxRow(data, (b * seq + t) * vocab, vocab);
      tokens[b]!.push(id);
      seqs[b]!.push(id);
      if (plan.eosTokenId !== undefined && id === plan.eosTokenId) done[b] = true;
    }
    logits.dispose();
    // counted in passes, not in row 0's tokens: row 0 may have stopped at its end-of-sequence id
    return done.every(Boolean) || ++passes >= plan.maxNewTokens;
  };

  const takePast = (out: Record<string, Tensor>): Record<string, Tensor> => {
    const past: Record<string, Tensor> = {};
    for (const s of plan.kv) {
      const t = out[s.output];
      if (!t) throw new Error(`the run returned no ${s.output}`);
      past[s.input] = t;
    }
    return past;
  };
  const dispose = (feeds: Record<string, Tensor>): void => {
    for (const t of Object.values(feeds)) t.dispose();
  };

  let t0 = performance.now();
  let out = await io.run(prefillFeeds, fetches);
  const prefillMs = performance.now() - t0;
  let past = useKv ? takePast(out) : {};
  let decodeMs = 0;
  let decodeSteps = 0;
  try {
    if (plan.maxNewTokens <= 0) {
      out[plan.logits]?.dispose();
      return { tokens, prefillMs, decodeMs, decodeSteps };
    }
    let finished = step(out, p - 1);
    while (!finished) {
      t0 = performance.now();
      const len = seqs[0]!.length;
      if (useKv) {
        out = await io.run({ ...tokenFeeds(len - 1, len), ...past }, fetches);
        dispose(past);
        past = {};
        past = takePast(out);
        finished = step(out, 0);
      } else {
        out = await io.run({ ...tokenFeeds(0, len), ...staticFeeds }, fetches);
        finished = step(out, len - 1);
      }
      decodeMs += performance.now() - t0;
      decodeSteps++;
    }
  } finally {
    dispose(past);
  }
  return { tokens, prefillMs, decodeMs, decodeSteps };
}
