import type { TaskItem } from './tasks/types.js';

/** Python len(): Unicode code points, not UTF-16 units. */
export function charLength(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

export function utf8Length(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

/** np.argmax: index of the first maximum. */
export function argmax(values: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}

export interface ItemScore {
  acc: number;
  acc_norm: number;
  acc_bytes: number;
  pred: number;
}

/**
 * lm-eval's multiple-choice metrics for one item: acc = argmax of log-likelihoods; acc_norm = argmax of
 * ll / len(choice) (characters, as the harness's completion_len); acc_bytes = argmax of ll / UTF-8 bytes.
 */
export function scoreItem(item: TaskItem, lls: readonly number[]): ItemScore {
  const pred = argmax(lls);
  const predNorm = argmax(lls.map((ll, i) => ll / charLength(item.choices[i]!)));
  const predBytes = argmax(lls.map((ll, i) => ll / utf8Length(item.choices[i]!)));
  return { acc: pred === item.gold ? 1 : 0, acc_norm: predNorm === item.gold ? 1 : 0, acc_bytes: predBytes === item.gold ? 1 : 0, pred };
}

/** Mean and its standard error as lm-eval reports it: sqrt(sample variance / n). */
export function meanStderr(values: readonly number[]): { mean: number; stderr: number } {
  const n = values.length;
  if (n === 0) return { mean: Number.NaN, stderr: Number.NaN };
  const mean = values.reduce((a, b) => a + b, 0) / n;
  if (n < 2) return { mean, stderr: Number.NaN };
  const variance = values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1);
  return { mean, stderr: Math.sqrt(variance / n) };
}
