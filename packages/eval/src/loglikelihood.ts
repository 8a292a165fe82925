import { chunk, makeTokenBatch, type KvLayout, type Session } from '@llm-bip/runtime';
import { EvalError } from './errors.js';
import { batchProgress, scoreBatches, type BatchScoring } from './token-scores.js';
import type { LoglikelihoodRequest } from './tasks/types.js';
import type { EvalTokenizer } from './tokenizer.js';

export interface EncodedRequest {
  contextIds: number[];
  continuationIds: number[];
}

export interface PairEncodingOptions {
  /** Prepend BOS to what is encoded (lm-eval's add_bos_token; default false, the harness default for HF causal LMs). */
  addBos?: boolean;
}

/**
 * lm-eval's HFLM._encode_pair: trailing whitespace of the context moves to the continuation, then
 * whole = encode(context + continuation), context = encode(context), continuation = whole[len(context):].
 * An empty context becomes the prefix token (BOS, else EOS) with the continuation encoded alone.
 */
export function encodePair(tokenizer: EvalTokenizer, request: LoglikelihoodRequest, opts: PairEncodingOptions = {}): EncodedRequest {
  let { context, continuation } = request;
  const enc = (s: string): number[] => tokenizer.encode(s, { addBos: opts.addBos ?? false, addEos: false });
  if (context === '') {
    const prefix = tokenizer.bosId ?? tokenizer.eosId;
    if (prefix === undefined) throw new EvalError('empty context needs a BOS or EOS token as prefix; the tokenizer has neither');
    return { contextIds: [prefix], continuationIds: enc(continuation) };
  }
  const spaces = context.length - context.replace(/\s+$/u, '').length;
  if (spaces > 0) {
    continuation = context.slice(context.length - spaces) + continuation;
    context = context.slice(0, context.length - spaces);
  }
  const whole = enc(context + continuation);
  const contextIds = enc(context);
  return { contextIds, continuationIds: whole.slice(contextIds.length) };
}

export interface LoglikelihoodResult {
  /** Sum of log p over the continuation tokens (nats). */
  logprob: number;
  /** Every continuation token is the argmax (harness is_greedy). */
  isGreedy: boolean;
  continuationTokens: number;
}

export interface ScoreOptions extends PairEncodingOptions {
  /** Sequences per forward pass (default 8). */
  batchSize?: number;
  /** Model context length: longer inputs are cut from the left as the harness does (default 2048). */
  maxLength?: number;
  kv?: KvLayout;
  /** Pad each batch's length up to a multiple of this (default 1): fewer shapes for EPs that compile per shape. */
  seqMultiple?: number;
  onBatch?: (done: number, tokens: number) => void;
}

/**
 * Log-likelihood of each request's continuation, computed like lm-eval's _loglikelihood_tokens:
 * input = (context + continuation)[-(maxLength+1):][:-1], the continuation scored at its last positions.
 * Requests are batched longest first (right padding does not change a causal model's real positions).
 */
export async function scoreRequests(source: Session | BatchScoring, tokenizer: EvalTokenizer, requests: readonly LoglikelihoodRequest[], opts: ScoreOptions = {}): Promise<LoglikelihoodResult[]> {
  const maxLength = opts.maxLength ?? 2048;
  const encoded = requests.map((r) => {
    const e = encodePair(tokenizer, r, opts);
    if (e.continuationIds.length === 0) throw new EvalError(`continuation ${JSON.stringify(r.continuation)} encodes to no tokens`);
    if (e.continuationIds.length > maxLength) throw new EvalError(`continuation of ${e.continuationIds.length} tokens exceeds the model length ${maxLength}`);
    const input = [...e.contextIds, ...e.continuationIds].slice(-(maxLength + 1)).slice(0, -1);
    return { input, continuation: e.continuationIds };
  });
  const order = encoded.map((_, i) => i).sort((a, b) => encoded[b]!.input.length - encoded[a]!.input.length || a - b);
  const results = new Array<LoglikelihoodResult>(requests.length);
  const batchSize = opts.batchSize ?? 8;
  // the continuation occupies each row's last positions; position first + j predicts continuation[j]
  const firstScored = (i: number) => encoded[i]!.input.length - encoded[i]!.continuation.length;
  const batches = chunk(order, batchSize).map((idx) => {
    const batch = makeTokenBatch(idx.map((i) => encoded[i]!.input), 0, opts.seqMultiple ?? 1);
    const targets = new Int32Array(batch.batch * batch.seq); // id 0 where nothing is scored
    idx.forEach((i, b) => encoded[i]!.continuation.forEach((tok, j) => (targets[b * batch.seq + firstScored(i) + j] = tok)));
    return { idx, scored: { batch, targets } };
  });
  await scoreBatches(
    source,
    batches.map((b) => b.scored),
    (k, scorer) => {
      const { idx, scored } = batches[k]!;
      idx.forEach((i, b) => {
        const { continuation } = encoded[i]!;
        let logprob = 0;
        let greedy = true;
        continuation.forEach((tok, j) => {
          const row = b * scored.batch.seq + firstScored(i) + j;
          logprob += scorer.logprobAt(row, tok);
          if (greedy && !scorer.greedyAt(row, tok)) greedy = false;
        });
        results[i] = { logprob, isGreedy: greedy, continuationTokens: continuation.length };
      });
    },
    batchProgress(
      batches.map((b) => b.idx.length),
      batches.map((b) => b.idx.reduce((a, i) => a + encoded[i]!.input.length, 0)),
      opts.onBatch,
    ),
    opts.kv,
  );
  return results;
}
