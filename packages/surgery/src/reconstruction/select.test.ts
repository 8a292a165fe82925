import { describe, expect, it } from 'vitest';
import type { InputMoments } from '@llm-bip/model';
import { correlatedTokens, mulberry32, referenceInputMoments } from '@llm-bip/testing';
import { removalOrder } from './select.js';
import type { DenseWeight } from './solve.js';

function weight(seed: number, n: number, m: number): DenseWeight {
  const next = mulberry32(seed);
  return { inFeatures: n, outFeatures: m, data: Float64Array.from({ length: n * m }, () => next() - 0.5) };
}

/** Solve A X = B (A k × k, B k × m) by Gaussian elimination with partial pivoting (independent of the Cholesky route). */
function gaussSolve(a: number[][], b: number[][]): number[][] {
  const k = a.length;
  const A = a.map((r) => [...r]);
  const B = b.map((r) => [...r]);
  for (let c = 0; c < k; c++) {
    let p = c;
    for (let r = c + 1; r < k; r++) if (Math.abs(A[r]![c]!) > Math.abs(A[p]![c]!)) p = r;
    [A[c], A[p]] = [A[p]!, A[c]!];
    [B[c], B[p]] = [B[p]!, B[c]!];
    for (let r = c + 1; r < k; r++) {
      const f = A[r]![c]! / A[c]![c]!;
      for (let j = c; j < k; j++) A[r]![j]! -= f * A[c]![j]!;
      for (let j = 0; j < B[0]!.length; j++) B[r]![j]! -= f * B[c]![j]!;
    }
  }
  for (let c = k - 1; c >= 0; c--) {
    for (let j = 0; j < B[0]!.length; j++) {
      let s = B[c]![j]!;
      for (let q = c + 1; q < k; q++) s -= A[c]![q]! * B[q]![j]!;
      B[c]![j] = s / A[c]![c]!;
    }
  }
  return B;
}

/**
 * Reference cost of removing rows P with the best refit of the rest: tr(W_Pᵀ (H_PP − H_PS H_SS⁻¹ H_SP) W_P),
 * H = Σ + λI, Σ the centred covariance from the moments, λ = alpha · mean(diag Σ).
 */
function referenceCost(w: DenseWeight, mom: InputMoments, P: number[], alpha: number): number {
  const { inFeatures: n, outFeatures: m, data } = w;
  const N = mom.tokens;
  const cov = (i: number, j: number) => mom.gram[i * n + j]! / N - (mom.sum[i]! / N) * (mom.sum[j]! / N);
  let diag = 0;
  for (let i = 0; i < n; i++) diag += cov(i, i);
  const lambda = (alpha * diag) / n;
  const H = (i: number, j: number) => cov(i, j) + (i === j ? lambda : 0);
  const S = [...Array(n).keys()].filter((i) => !P.includes(i));
  const X = gaussSolve(
    S.map((i) => S.map((j) => H(i, j))),
    S.map((i) => P.map((p) => H(i, p))),
  ); // H_SS⁻¹ H_SP
  const schur = P.map((p) => P.map((q, b) => H(p, q) - S.reduce((s, i, r) => s + H(p, i) * X[r]![b]!, 0)));
  let e = 0;
  for (let o = 0; o < m; o++) for (let a = 0; a < P.length; a++) for (let b = 0; b < P.length; b++) e += data[P[a]! * m + o]! * schur[a]![b]! * data[P[b]! * m + o]!;
  return e;
}

const n = 8;
const m = 3;
const x = correlatedTokens(5, 400, n, 6);
const mom = referenceInputMoments(x, n);
const w = weight(11, n, m);

describe('removalOrder (greedy optimal brain surgeon on input groups)', () => {
  it('single inputs: the first removal is the cheapest one, and the greedy errors add up to the removed set\'s cost', () => {
    const alpha = 1e-2;
    const singles = [...Array(n).keys()].map((i) => [i]);
    const r = removalOrder(w, mom, singles, 4, alpha);
    const costs = singles.map((g) => referenceCost(w, mom, g, alpha));
    expect(r.removed[0]).toBe(costs.indexOf(Math.min(...costs)));
    expect(r.errors[0]).toBeCloseTo(Math.min(...costs), 10);
    // each step's cost is exact given the earlier removals, so the sum is the set's cost (rel. 1e-9)
    for (let k = 1; k <= 4; k++) {
      const total = r.errors.slice(0, k).reduce((s, e) => s + e, 0);
      const ref = referenceCost(w, mom, r.removed.slice(0, k), alpha);
      expect(Math.abs(total - ref) / ref).toBeLessThan(1e-9);
    }
    // and each step took the cheapest next input given the ones before it
    const after1 = singles.filter((_, i) => i !== r.removed[0]).map((g) => referenceCost(w, mom, [r.removed[0]!, g[0]!], alpha));
    expect(r.errors[0]! + r.errors[1]!).toBeCloseTo(Math.min(...after1), 10);
  });

  it('groups of two inputs (heads): the same properties', () => {
    const alpha = 1e-3;
    const groups = [[0, 5], [1, 2], [3, 7], [4, 6]];
    const r = removalOrder(w, mom, groups, 2, alpha);
    const costs = groups.map((g) => referenceCost(w, mom, g, alpha));
    expect(r.removed[0]).toBe(costs.indexOf(Math.min(...costs)));
    const set = r.removed.flatMap((g) => groups[g]!);
    const ref = referenceCost(w, mom, set, alpha);
    expect(Math.abs(r.errors[0]! + r.errors[1]! - ref) / ref).toBeLessThan(1e-9);
  });

  it('refuses overlapping groups, an out-of-range count and a ridge that is not positive', () => {
    expect(() => removalOrder(w, mom, [[0, 1], [1, 2]], 1, 1e-2)).toThrow(/in two groups/);
    expect(() => removalOrder(w, mom, [[0], [1]], 3, 1e-2)).toThrow(/cannot remove 3 of 2/);
    expect(() => removalOrder(w, mom, [[0], [1]], 1, 0)).toThrow(/positive/);
    expect(removalOrder(w, mom, [[0], [1]], 0, 1e-2)).toEqual({ removed: [], errors: [] });
  });
});
