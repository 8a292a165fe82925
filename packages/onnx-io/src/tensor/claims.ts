/**
 * Claims vs bytes: a file says how big a tensor is (dims, dtype, lengths, offsets) and holds some
 * bytes. Every reader (ONNX inline and external tensors, safetensors) checks the claim here,
 * before it allocates anything from it, so a corrupt or hostile file is an error that names the
 * field instead of a crash, an out-of-memory, or silently wrong numbers.
 */
import { categorisedError } from '../errors.js';

/** A tensor whose claimed shape, type or data the file does not back up; the model file is corrupt. */
export class TensorDataError extends categorisedError('TensorDataError', 'input') {}

/** Upper bounds on what an input file or option may claim; checked before allocating from a claim. */
export const INPUT_LIMITS = {
  /** dimensions of one tensor (LLaMA weights have 1 or 2; ONNX constants a few) */
  tensorRank: 16,
  /** elements of one tensor: 2^34 (64 GiB of fp32), above any single weight of a 405B model */
  tensorElements: 2 ** 34,
  /** decoder layers in a config (Llama 3.1 405B has 126) */
  layers: 1024,
  /** any width in a config: hidden, intermediate, heads, head_dim (405B: 53,248 intermediate) */
  width: 2 ** 20,
  /** vocabulary entries (the largest public vocabularies are ~256k) */
  vocab: 2 ** 22,
  /** context length in tokens (max_position_embeddings, --seq-len, bench --prompt) */
  contextLength: 2 ** 24,
  /** calibration samples (--samples): the default is 128, papers use up to 1,024 */
  samples: 2 ** 20,
  /** bytes of a JSON side file read whole (tokenizer.json, tokenizer_config.json; real ones are < 50 MB) */
  jsonFileBytes: 256 * 1024 * 1024,
} as const;

/**
 * Check a count from a file or an option against its limit; `fix` tells the user what to do.
 * Returns the problem, or undefined.
 */
export function countProblem(what: string, value: number, limit: number, fix: string): string | undefined {
  if (!Number.isSafeInteger(value) || value <= 0) return `${what} must be a positive integer, got ${JSON.stringify(value)}`;
  if (value > limit) return `${what} is ${value}, over the limit of ${limit}: ${fix}`;
  return undefined;
}

/** The problem with a claimed shape (each dim a non-negative safe integer, within the limits), or undefined. */
export function dimsProblem(dims: readonly unknown[]): string | undefined {
  if (dims.length > INPUT_LIMITS.tensorRank) return `has ${dims.length} dimensions, over the limit of ${INPUT_LIMITS.tensorRank}`;
  let n = 1;
  for (const d of dims) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) return `has dimension ${JSON.stringify(d)}, not a non-negative integer`;
    n *= d;
  }
  if (n > INPUT_LIMITS.tensorElements) return `claims ${n} elements (shape [${dims.join(', ')}]), over the limit of ${INPUT_LIMITS.tensorElements}`;
  return undefined;
}

/** Bytes a shape of `elementBytes`-byte elements takes; throws (via `fail`) when the shape is invalid. */
export function claimedByteLength(dims: readonly unknown[], elementBytes: number, fail: (problem: string) => Error): number {
  const problem = dimsProblem(dims);
  if (problem) throw fail(problem);
  return (dims as number[]).reduce((a, b) => a * b, 1) * elementBytes;
}

/** The problem when a claimed shape does not account for exactly `present` bytes, or undefined. */
export function byteClaimProblem(dims: readonly unknown[], elementBytes: number, present: number): string | undefined {
  const problem = dimsProblem(dims);
  if (problem) return problem;
  const claimed = (dims as number[]).reduce((a, b) => a * b, 1) * elementBytes;
  if (claimed !== present) {
    return `has shape [${dims.join(', ')}] of ${elementBytes}-byte elements (${claimed} bytes) but ${present} bytes of data`;
  }
  return undefined;
}

/** A byte range [begin, end) as claimed by a file, checked against the file's size and its neighbours. */
export interface ClaimedRange {
  name: string;
  begin: number;
  end: number;
}

/**
 * The problem with a set of claimed byte ranges inside `size` bytes (out of range, reversed, or
 * overlapping another range), or undefined.
 */
export function rangesProblem(ranges: readonly ClaimedRange[], size: number): string | undefined {
  for (const r of ranges) {
    if (!Number.isSafeInteger(r.begin) || !Number.isSafeInteger(r.end) || r.begin < 0 || r.end < r.begin) {
      return `"${r.name}" claims bytes [${r.begin}, ${r.end}), not a valid range`;
    }
    if (r.end > size) return `"${r.name}" claims bytes up to ${r.end} but only ${size} are present (truncated file?)`;
  }
  const sorted = ranges.filter((r) => r.end > r.begin).sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1]!;
    const cur = sorted[i]!;
    if (cur.begin < prev.end) return `"${cur.name}" [${cur.begin}, ${cur.end}) overlaps "${prev.name}" [${prev.begin}, ${prev.end})`;
  }
  return undefined;
}
