import type { LogitsView } from '@llm-bip/runtime';

/** log p(target | position) from one logits row, in float64: logit[target] - logsumexp(row). */
export function tokenLogProb(view: LogitsView, row: number, target: number): number {
  const base = row * view.vocab;
  const data = view.data;
  let max = -Infinity;
  for (let v = 0; v < view.vocab; v++) if (data[base + v]! > max) max = data[base + v]!;
  let sum = 0;
  for (let v = 0; v < view.vocab; v++) sum += Math.exp(data[base + v]! - max);
  return data[base + target]! - max - Math.log(sum);
}

/** Whether `target` is the (first) argmax of a logits row: the harness's is_greedy. */
export function isArgmax(view: LogitsView, row: number, target: number): boolean {
  const base = row * view.vocab;
  const t = view.data[base + target]!;
  for (let v = 0; v < view.vocab; v++) {
    const x = view.data[base + v]!;
    if (x > t || (x === t && v < target)) return false;
  }
  return true;
}
