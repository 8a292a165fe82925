/**
 * How many perplexity windows to put in one forward pass: as many as a memory budget holds, from an
 * estimate of what one window costs inside the session (its logits and the scoring head's copies of
 * them, one decoder block's activations, the attention scores). Larger batches amortise each run's
 * fixed cost and feed the EP larger matrix products; the budget keeps a 7B model at 2,048 tokens
 * from exhausting memory.
 */
import { EvalError } from './errors.js';

/** Widths of the model that size its activations; any unknown one is left out of the estimate. */
export interface ActivationWidths {
  vocab: number;
  hiddenSize?: number;
  intermediateSize?: number;
  numHeads?: number;
}

/** the most windows in one run: past this, a run's fixed cost is already negligible */
export const MAX_WINDOW_BATCH = 64;

/**
 * Bytes one window of `seqLen` tokens needs while it runs, as float32 (fp16 models cast to float32
 * for norms, softmax and the head, so the float32 size is the safe one):
 * - logits [seq, vocab] and the head's shifted, exp and cast copies: 4 x seq x vocab x 4 B;
 * - one decoder block's live activations, x, q, k, v, context, output (6 x hidden) and gate, up,
 *   product (3 x intermediate): seq x (6 h + 3 i) x 4 B; ORT reuses these buffers block after block;
 * - attention scores, their mask sum and softmax: 3 x heads x seq^2 x 4 B.
 * Without hidden/intermediate widths the logits term is doubled instead (a guess on the safe side).
 */
export function windowBytes(widths: ActivationWidths, seqLen: number): number {
  const logits = headBytesPerWindow(widths.vocab, seqLen);
  const known = widths.hiddenSize !== undefined && widths.intermediateSize !== undefined;
  const block = known ? seqLen * (6 * widths.hiddenSize! + 3 * widths.intermediateSize!) * 4 : logits;
  const attention = 3 * (widths.numHeads ?? 0) * seqLen * seqLen * 4;
  return logits + block + attention;
}

/**
 * Bytes the logits and the scoring head's float32 copies of them (cast, rounded, shifted / exp) hold for
 * one window of `seqLen` tokens: 4 x seq x vocab x 4 B. Block-by-block evaluation counts it in the last
 * segment, which runs the head.
 */
export function headBytesPerWindow(vocab: number, seqLen: number): number {
  return 4 * seqLen * vocab * 4;
}

/** Windows per run that fit `budgetBytes` (at least 1, at most MAX_WINDOW_BATCH and `windows`). */
export function windowBatchFor(widths: ActivationWidths, seqLen: number, budgetBytes: number, windows = MAX_WINDOW_BATCH): { batch: number; windowBytes: number } {
  if (!(widths.vocab > 0)) throw new EvalError(`cannot size a window batch without the model's vocabulary (got ${widths.vocab})`);
  if (!(budgetBytes > 0)) throw new EvalError(`memory budget must be positive, got ${budgetBytes} bytes`);
  const per = windowBytes(widths, seqLen);
  const batch = Math.max(1, Math.min(MAX_WINDOW_BATCH, Math.max(1, windows), Math.floor(budgetBytes / per)));
  return { batch, windowBytes: per };
}
