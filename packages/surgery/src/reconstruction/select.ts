/**
 * Which input groups of one projection to remove when the kept inputs will be refit (solve.ts): the
 * groups whose removal the refit can make up for best. Greedy optimal brain surgeon on whole groups
 * (as SlimGPT does for structured pruning): with H = Σ + λI over the projection's inputs (Σ the input
 * covariance, the bias absorbing the means as in solve.ts), removing a set P of input rows from W and
 * refitting the rest optimally costs
 *
 *   E(P) = tr(W_Pᵀ [(H⁻¹)_PP]⁻¹ W_P)
 *
 * in calibration output error (plus the ridge). Greedy: remove the group g with the least
 * tr(W_gᵀ [(H⁻¹)_gg]⁻¹ W_g), then update the kept rows to their optimal compensation,
 * W_R ← W_R − (H⁻¹)_Rg [(H⁻¹)_gg]⁻¹ W_g, and H⁻¹ to the inverse of H without g (its Schur complement),
 * H⁻¹ ← H⁻¹ − (H⁻¹)_:g [(H⁻¹)_gg]⁻¹ (H⁻¹)_g:, and repeat.
 *
 * Cost (float64, host): one inverse of the n × n H (≈ n³), then per removed group of d inputs
 * ≈ n² + n·m multiply-adds plus d³ for the group's own solve. Fine for the test beds (n = 1408); at
 * 7B width (n = 11008, half of it removed) it is ~10¹² per layer: not for that scale as written.
 *
 * The order says which groups go; the final weights are still refit by solve.ts (with its held-out
 * ridge) on the kept set: the greedy's running compensation serves only the choice.
 */
import type { DenseWeight, Moments } from './solve.js';
import { choleskyInPlace, choleskySolveInPlace } from './cholesky.js';
import { inputCovariance } from './solve.js';
import { SurgeryError } from '../errors.js';

export interface RemovalOrder {
  /** group indices, in the order they were removed */
  removed: number[];
  /** E added by each removal (calibration output error per token, with the ridge), same order */
  errors: number[];
}

/**
 * Greedy removal of `remove` of `groups` (each a list of input rows of `w`, disjoint) from one
 * projection. `alpha`: the ridge relative to mean(diag Σ), as solve.ts's.
 */
export function removalOrder(w: DenseWeight, moments: Moments, groups: readonly (readonly number[])[], remove: number, alpha: number, what = 'projection'): RemovalOrder {
  const { inFeatures: n, outFeatures: m } = w;
  if (!Number.isInteger(remove) || remove < 0 || remove > groups.length) throw new SurgeryError(`${what}: cannot remove ${remove} of ${groups.length} groups`);
  if (!(alpha > 0) || !Number.isFinite(alpha)) throw new SurgeryError(`${what}: the selection ridge must be a positive number, got ${alpha}`);
  const seen = new Uint8Array(n);
  for (const g of groups) {
    if (g.length === 0) throw new SurgeryError(`${what}: an empty input group`);
    for (const i of g) {
      if (!Number.isInteger(i) || i < 0 || i >= n || seen[i]) throw new SurgeryError(`${what}: input ${i} is out of range 0..${n - 1} or in two groups`);
      seen[i] = 1;
    }
  }
  if (remove === 0) return { removed: [], errors: [] };

  const hinv = inputCovariance(moments, n, what);
  let diag = 0;
  for (let i = 0; i < n; i++) diag += hinv[i * n + i]!;
  const lambda = alpha * (diag / n > 0 ? diag / n : 1);
  for (let i = 0; i < n; i++) hinv[i * n + i]! += lambda;
  invertSpdInPlace(hinv, n, what);

  const W = Float64Array.from(w.data);
  const alive = new Uint8Array(groups.length).fill(1);
  const rowAlive = new Uint8Array(n).fill(1);
  const removed: number[] = [];
  const errors: number[] = [];
  for (let step = 0; step < remove; step++) {
    let best = -1;
    let bestErr = Infinity;
    let factor: Float64Array = new Float64Array(0);
    for (let g = 0; g < groups.length; g++) {
      if (!alive[g]) continue;
      const e = groupError(hinv, n, W, m, groups[g]!);
      if (e.error < bestErr || (e.error === bestErr && best < 0)) {
        bestErr = e.error;
        best = g;
        factor = e.factor;
      }
    }
    const g = groups[best]!;
    const d = g.length;
    // X = [(H⁻¹)_gg]⁻¹ W_g  (d × m),  K = [(H⁻¹)_gg]⁻¹ (H⁻¹)_g:  (d × n), with the chosen group's factor
    const X = new Float64Array(d * m);
    const K = new Float64Array(d * n);
    g.forEach((r, a) => {
      X.set(W.subarray(r * m, r * m + m), a * m);
      K.set(hinv.subarray(r * n, r * n + n), a * n);
    });
    choleskySolveInPlace(factor, d, X, m);
    choleskySolveInPlace(factor, d, K, n);
    for (const r of g) rowAlive[r] = 0;
    for (let i = 0; i < n; i++) {
      if (!rowAlive[i]) continue;
      const wi = i * m;
      const hi = i * n;
      for (let a = 0; a < d; a++) {
        const f = hinv[hi + g[a]!]!;
        if (f === 0) continue;
        const xa = a * m;
        for (let o = 0; o < m; o++) W[wi + o]! -= f * X[xa + o]!;
      }
    }
    // Schur complement on the rows/columns still alive (the removed ones are never read again)
    const col = new Float64Array(n * d); // (H⁻¹)_:g before the update
    for (let i = 0; i < n; i++) for (let a = 0; a < d; a++) col[i * d + a] = hinv[i * n + g[a]!]!;
    for (let i = 0; i < n; i++) {
      if (!rowAlive[i]) continue;
      const hi = i * n;
      for (let a = 0; a < d; a++) {
        const f = col[i * d + a]!;
        if (f === 0) continue;
        const ka = a * n;
        for (let j = 0; j < n; j++) hinv[hi + j]! -= f * K[ka + j]!;
      }
    }
    for (const r of g) W.fill(0, r * m, r * m + m);
    alive[best] = 0;
    removed.push(best);
    errors.push(bestErr);
  }
  return { removed, errors };
}

/** tr(W_gᵀ [(H⁻¹)_gg]⁻¹ W_g) and the Cholesky factor of (H⁻¹)_gg. */
function groupError(hinv: Float64Array, n: number, W: Float64Array, m: number, g: readonly number[]): { error: number; factor: Float64Array } {
  const d = g.length;
  const factor = new Float64Array(d * d);
  for (let a = 0; a < d; a++) for (let b = 0; b <= a; b++) factor[a * d + b] = hinv[g[a]! * n + g[b]!]!;
  if (d === 1) {
    const h = factor[0]!;
    let s = 0;
    const r = g[0]! * m;
    for (let o = 0; o < m; o++) s += W[r + o]! * W[r + o]!;
    factor[0] = Math.sqrt(h);
    return { error: h > 0 ? s / h : Infinity, factor };
  }
  if (!choleskyInPlace(factor, d)) return { error: Infinity, factor };
  const X = new Float64Array(d * m);
  g.forEach((r, a) => X.set(W.subarray(r * m, r * m + m), a * m));
  choleskySolveInPlace(factor, d, X, m);
  let s = 0;
  g.forEach((r, a) => {
    for (let o = 0; o < m; o++) s += W[r * m + o]! * X[a * m + o]!;
  });
  return { error: s, factor };
}

/** Invert a symmetric positive definite n × n matrix in place (Cholesky, then L⁻ᵀL⁻¹). */
function invertSpdInPlace(a: Float64Array, n: number, what: string): void {
  const l = Float64Array.from(a);
  if (!choleskyInPlace(l, n)) throw new SurgeryError(`${what}: the input covariance plus the ridge is not positive definite; raise the selection ridge`);
  a.fill(0);
  for (let i = 0; i < n; i++) a[i * n + i] = 1;
  choleskySolveInPlace(l, n, a, n);
}
