/**
 * Sessions on the token scoring head (scoring-head.ts) and one forward pass through them. ORT then
 * hands back two [batch, seq] tensors instead of the [batch, seq, vocab] logits, and the log-softmax
 * runs in the graph rather than in JavaScript.
 */
import { loadModel, mostlyHalfPrecision, writeDerivedModelFile, type DerivedModelFile } from '@llm-bip/onnx-io';
import { createSession, forwardFeeds, forwardLogits, int64Tensor, type KvLayout, type Session, type SessionOptions, type TokenBatch } from '@llm-bip/runtime';
import { EvalError } from './errors.js';
import { isArgmax, tokenLogProb } from './log-softmax.js';
import { addTokenScoringHead, ARGMAX_OUTPUT, TARGETS_INPUT, TOKEN_LOGPROB_OUTPUT } from './scoring-head.js';

export interface ScoringSession {
  /** A session on the model plus the head; `modelPath` is the original model's (config files beside it are found). */
  session: Session;
  /** Removes the derived model file (if one was written); call after `session.release()`. */
  cleanup(): Promise<void>;
}

/** Whether `session` runs a model with the scoring head (else callers reduce the logits themselves). */
export function hasScoringHead(session: Session): boolean {
  return session.outputNames.includes(TOKEN_LOGPROB_OUTPUT) && session.outputNames.includes(ARGMAX_OUTPUT) && session.inputNames.includes(TARGETS_INPUT);
}

/**
 * A session on `modelPath` with the scoring head added. The derived model never goes into the model's
 * folder: with external weights ORT loads it from memory and reads the weights from that folder; a
 * self-contained one goes to a temp folder, removed by `cleanup`, or here when the session cannot be created.
 * A model whose weights are mostly float16 or bfloat16 gets `keepFp16Weights` unless the options say
 * otherwise: on the CPU EP that keeps evaluation near the weights' size instead of about 1.7x.
 */
export async function createScoringSession(modelPath: string, sessionOptions: SessionOptions = {}): Promise<ScoringSession> {
  const { file, originalPath, halfWeights } = await writeHeadModel(modelPath);
  let inner: Session;
  try {
    inner = await createSession(file, { keepFp16Weights: halfWeights, ...sessionOptions });
  } catch (e) {
    await file.cleanup();
    throw e;
  }
  // Report the original path: the runtime looks for genai_config.json / config.json beside it (KV geometry),
  // and the derived file may sit in a temp folder.
  const session: Session = {
    modelPath: originalPath,
    ep: inner.ep,
    epReport: inner.epReport,
    inputNames: inner.inputNames,
    outputNames: inner.outputNames,
    inputMetadata: inner.inputMetadata,
    outputMetadata: inner.outputMetadata,
    loadMs: inner.loadMs,
    run: (feeds, outputNames) => inner.run(feeds, outputNames),
    release: () => inner.release(),
  };
  return { session, cleanup: () => file.cleanup() };
}

/**
 * The derived model on disk. Its own function so that the decoded model (all weights, for a
 * self-contained file) is garbage before ORT loads its copy.
 */
async function writeHeadModel(modelPath: string): Promise<{ file: DerivedModelFile; originalPath: string; halfWeights: boolean }> {
  const loaded = await loadModel(modelPath);
  const halfWeights = mostlyHalfPrecision(loaded.model);
  addTokenScoringHead(loaded.model);
  const file = await writeDerivedModelFile(loaded.model, loaded.dir, { prefix: '.llm-bip-eval-', label: 'scoring-head model' });
  return { file, originalPath: loaded.path, halfWeights };
}

export interface TokenScores {
  /** log p(target) per position, [batch * seq] row-major (padding positions hold garbage: do not read them). */
  logprob: Float32Array;
  /** First argmax of the logits per position, [batch * seq]. */
  argmax: BigInt64Array;
  batch: number;
  seq: number;
}

/**
 * One forward pass of a head session over `batch`; `targets` is [batch * seq] row-major in the batch's
 * padded shape (any valid token id where nothing is scored).
 */
export async function forwardTokenScores(session: Session, batch: TokenBatch, targets: ArrayLike<number>, kv?: KvLayout): Promise<TokenScores> {
  if (!hasScoringHead(session)) throw new EvalError(`session on ${session.modelPath} has no scoring head: create it with createScoringSession`);
  if (targets.length !== batch.batch * batch.seq) throw new EvalError(`targets: ${targets.length} ids for a ${batch.batch} x ${batch.seq} batch`);
  // the runtime's feed builder knows the model's own inputs only: hide the targets input from it
  const modelInputs = Object.create(session, { inputNames: { value: session.inputNames.filter((n) => n !== TARGETS_INPUT) } }) as Session;
  const feeds = forwardFeeds(modelInputs, batch, kv);
  feeds[TARGETS_INPUT] = int64Tensor(targets, [batch.batch, batch.seq]);
  const out = await session.run(feeds, [TOKEN_LOGPROB_OUTPUT, ARGMAX_OUTPUT]);
  const logprob = out[TOKEN_LOGPROB_OUTPUT]!;
  const argmax = out[ARGMAX_OUTPUT]!;
  if (logprob.type !== 'float32' || argmax.type !== 'int64') throw new EvalError(`scoring head outputs: expected float32 / int64, got ${logprob.type} / ${argmax.type}`);
  return { logprob: logprob.data as Float32Array, argmax: argmax.data as BigInt64Array, batch: batch.batch, seq: batch.seq };
}

/** One forward pass, read at (row, token) pairs; row = b * batch.seq + t. */
export interface BatchScorer {
  /** log p(token | the row's prefix up to t) */
  logprobAt(row: number, token: number): number;
  /** whether `token` is the first argmax at that position (lm-eval's is_greedy) */
  greedyAt(row: number, token: number): boolean;
}

/**
 * One forward pass of `batch`, for perplexity and the tasks alike: through the scoring head when the
 * session has one (`targets`, [batch * seq] row-major, names the token read at each position; any
 * valid id elsewhere), else from the logits, reduced in float64 JS (`targets` unused).
 */
export async function scoreBatch(session: Session, batch: TokenBatch, targets: Int32Array, kv?: KvLayout): Promise<BatchScorer> {
  if (hasScoringHead(session)) {
    const scores = await forwardTokenScores(session, batch, targets, kv);
    return { logprobAt: (row) => scores.logprob[row]!, greedyAt: (row, token) => scores.argmax[row] === BigInt(token) };
  }
  const view = await forwardLogits(session, batch, kv);
  return { logprobAt: (row, token) => tokenLogProb(view, row, token), greedyAt: (row, token) => isArgmax(view, row, token) };
}

/** One forward pass: the batch and, per position (row-major), the token read there (0: none). */
export interface TargetBatch {
  batch: TokenBatch;
  targets: Int32Array;
}

/**
 * Scores every batch at once instead of one forward pass at a time: what block-by-block evaluation
 * provides (each segment's session runs every batch before the next is made), for perplexity and the
 * tasks alike. `onProgress(fraction)` reports the share of the work done, 0..1.
 */
export type BatchScoring = (batches: TargetBatch[], onProgress: (fraction: number) => void) => Promise<BatchScorer[]>;

/**
 * Each batch scored, in order, handed to `use(i, scorer)`: one forward pass per batch through a session
 * (a scorer may hold the batch's whole logits, so it is used and dropped before the next pass), or every
 * batch at once through a BatchScoring. `onProgress(batchesDone)` counts batches, fractionally for a
 * BatchScoring.
 */
export async function scoreBatches(
  source: Session | BatchScoring,
  batches: TargetBatch[],
  use: (i: number, scorer: BatchScorer) => void,
  onProgress: (batchesDone: number) => void,
  kv?: KvLayout,
): Promise<void> {
  if (typeof source === 'function') {
    const scorers = await source(batches, (fraction) => onProgress(fraction * batches.length));
    if (scorers.length !== batches.length) throw new EvalError(`block-by-block scoring returned ${scorers.length} results for ${batches.length} batches`);
    scorers.forEach((scorer, i) => use(i, scorer));
    return;
  }
  for (const [i, b] of batches.entries()) {
    use(i, await scoreBatch(source, b.batch, b.targets, kv));
    onProgress(i + 1);
  }
}

/**
 * scoreBatches' `onProgress` as (items done, tokens added) for a caller counting items (windows,
 * requests) and tokens: `items[i]` and `tokens[i]` are batch i's; a fraction of a batch counts pro rata.
 */
export function batchProgress(items: readonly number[], tokens: readonly number[], onBatch?: (done: number, tokensAdded: number) => void): (batchesDone: number) => void {
  const before = (xs: readonly number[]) => xs.reduce<number[]>((acc, x) => [...acc, acc.at(-1)! + x], [0]);
  const itemsBefore = before(items);
  const tokensBefore = before(tokens);
  let reported = 0;
  return (done) => {
    const whole = Math.min(Math.floor(done), items.length);
    const at = (xs: number[]) => xs[whole]! + (whole < items.length ? (done - whole) * (xs[whole + 1]! - xs[whole]!) : 0);
    const t = Math.round(at(tokensBefore));
    onBatch?.(Math.floor(at(itemsBefore)), t - reported);
    reported = t;
  };
}
