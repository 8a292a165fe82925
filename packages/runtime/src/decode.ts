import { forwardFeeds, kvSlots, logitsOutputName, type KvLayout } from './causal-lm.js';
import { greedyLoop, TOKEN_INPUTS, type GreedyPlan } from './decode-loop.js';
import { RuntimeError } from './errors.js';
import { ort } from './ort.js';
import type { Session } from './session.js';
import { makeTokenBatch } from './tensors.js';

export interface GreedyOptions {
  maxNewTokens: number;
  /** Stop a row once it emits this id (the id is kept in its output). */
  eosTokenId?: number;
  /** Use the KV cache when the model has one (default true); false recomputes the whole sequence each step. */
  useKvCache?: boolean;
  kv?: KvLayout;
  /**
   * Run the loop on this thread, one `session.run` (one message to the session host thread, the KV cache
   * copied there and back) per step: the path before the loop moved to the host thread, kept as the
   * reference for tests and for timing the two against each other. Default false.
   */
  perStep?: boolean;
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

/**
 * Greedy decoding. With a KV cache the prompt is prefilled once and each step feeds one token plus the
 * previous present.N.* outputs as past_key_values.N.*; without one, every step re-runs the sequence.
 * The loop (decode-loop.ts) runs on the session host thread in one message, so the KV cache never crosses
 * threads; only the generated ids come back. Prompts in one call must have the same length (no left padding).
 */
export async function greedyDecode(session: Session, prompts: readonly (readonly number[])[], opts: GreedyOptions): Promise<GreedyResult> {
  if (prompts.length === 0) throw new RuntimeError('greedyDecode: no prompts');
  const p = prompts[0]!.length;
  if (p === 0 || prompts.some((r) => r.length !== p)) {
    throw new RuntimeError('greedyDecode: prompts must be non-empty and of equal length (batch rows of different length need left padding, not supported)');
  }
  const slots = kvSlots(session);
  const useKv = (opts.useKvCache ?? true) && slots.length > 0;
  const plan: GreedyPlan = {
    prompts: prompts.map((r) => [...r]),
    maxNewTokens: opts.maxNewTokens,
    ...(opts.eosTokenId !== undefined ? { eosTokenId: opts.eosTokenId } : {}),
    logits: logitsOutputName(session),
    kv: useKv ? slots.map((s) => ({ input: s.input, output: s.output })) : [],
    tokenInputs: session.inputNames.filter((n) => (TOKEN_INPUTS as readonly string[]).includes(n)),
  };
  const prefill = forwardFeeds(session, makeTokenBatch(plan.prompts), opts.kv);
  const r =
    session.generate && !opts.perStep
      ? await session.generate(plan, prefill)
      : await greedyLoop(plan, prefill, { run: (feeds, names) => session.run(feeds, names), int64: (values, dims) => new ort.Tensor('int64', values, dims) });
  return { ...r, usedKvCache: useKv };
}
