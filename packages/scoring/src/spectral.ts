/**
 * Largest singular value of a weight matrix, in float64 on the host. LLM-BIP needs ||W_gate||_2,
 * ||W_up||_2, ||W_down||_2 once per model (the FFN's Lipschitz constant).
 *
 * Lanczos iteration on the Gram matrix (W^T W or W W^T, whichever is smaller), with full
 * reorthogonalisation: the power iteration's matrix-vector products, but the largest eigenvalue is
 * taken from the whole Krylov space, which converges in tens of products where plain power iteration
 * needs hundreds (slow when the top two singular values are close). Matrices are a few thousand wide,
 * so keeping up to `maxIterations` basis vectors is cheap.
 */
import type { ModelSpec } from '@llm-bip/model';
import { seededRng } from './rng.js';
import type { SpectralNorms } from './types.js';
import type { LinearWeight, WeightSource } from './weights.js';

export interface PowerIterationOptions {
  /** stop when the estimate changes by less than this, relatively, twice in a row (default 1e-9) */
  tolerance?: number;
  /** most matrix-vector products (default 200; the Krylov basis holds this many vectors) */
  maxIterations?: number;
  seed?: number;
}

export function spectralNorm(w: LinearWeight, opts: PowerIterationOptions = {}): number {
  const tol = opts.tolerance ?? 1e-9;
  const { inFeatures: n, outFeatures: m, data } = w;
  // Gram matrix side: G = W^T W (size m) or W W^T (size n), the smaller one
  const size = Math.min(n, m);
  const maxIt = Math.min(opts.maxIterations ?? 200, size);
  const gram = gramProduct(data, n, m, m <= n);
  const rng = seededRng(opts.seed ?? 0);
  const q0 = new Float64Array(size);
  for (let i = 0; i < size; i++) q0[i] = rng.next() - 0.5;
  if (normalise(q0) === 0) return 0;
  const basis: Float64Array[] = [q0];
  const alpha: number[] = [];
  const beta: number[] = [];
  let estimate = 0;
  let settled = 0;
  for (let j = 0; j < maxIt; j++) {
    const q = basis[j]!;
    const v = gram(q);
    alpha.push(dot(q, v));
    // full reorthogonalisation (twice is enough, Kahan's rule) against the whole basis
    for (let pass = 0; pass < 2; pass++) {
      for (const b of basis) {
        const c = dot(b, v);
        for (let i = 0; i < size; i++) v[i]! -= c * b[i]!;
      }
    }
    const next = largestTridiagonalEigenvalue(alpha, beta);
    // Ritz values rise monotonically to the top eigenvalue; ask for two quiet steps in a row
    settled = j > 0 && Math.abs(next - estimate) <= tol * next ? settled + 1 : 0;
    const converged = settled >= 2;
    estimate = next;
    const b = normalise(v);
    if (converged || b <= 1e-14 * Math.sqrt(Math.max(estimate, 0)) || j === maxIt - 1) break;
    beta.push(b);
    basis.push(v);
  }
  return Math.sqrt(Math.max(estimate, 0));
}

/** x -> G x for G = W^T W (rightGram, x of size m) or W W^T (x of size n), W stored [n][m] row-major. */
function gramProduct(data: Float32Array, n: number, m: number, rightGram: boolean): (x: Float64Array) => Float64Array {
  return (x) => {
    if (rightGram) {
      // W^T (W x): x in R^m
      const out = new Float64Array(m);
      for (let i = 0; i < n; i++) {
        const base = i * m;
        let s = 0;
        for (let o = 0; o < m; o++) s += data[base + o]! * x[o]!;
        if (s === 0) continue;
        for (let o = 0; o < m; o++) out[o]! += data[base + o]! * s;
      }
      return out;
    }
    // W (W^T x): x in R^n
    const t = new Float64Array(m);
    for (let i = 0; i < n; i++) {
      const xi = x[i]!;
      if (xi === 0) continue;
      const base = i * m;
      for (let o = 0; o < m; o++) t[o]! += data[base + o]! * xi;
    }
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const base = i * m;
      let s = 0;
      for (let o = 0; o < m; o++) s += data[base + o]! * t[o]!;
      out[i] = s;
    }
    return out;
  };
}

/** Largest eigenvalue of the symmetric tridiagonal matrix (diagonal a, off-diagonal b) by Sturm bisection. */
export function largestTridiagonalEigenvalue(a: number[], b: number[]): number {
  const k = a.length;
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < k; i++) {
    const r = (i > 0 ? Math.abs(b[i - 1]!) : 0) + (i < k - 1 ? Math.abs(b[i]!) : 0);
    lo = Math.min(lo, a[i]! - r);
    hi = Math.max(hi, a[i]! + r);
  }
  // number of eigenvalues below x (Sturm sequence of the LDL^T pivots)
  const below = (x: number): number => {
    let count = 0;
    let d = 1;
    for (let i = 0; i < k; i++) {
      d = a[i]! - x - (i > 0 ? b[i - 1]! ** 2 / d : 0);
      if (d === 0) d = -1e-300;
      if (d < 0) count++;
    }
    return count;
  };
  for (let it = 0; it < 200 && hi - lo > 1e-15 * Math.max(Math.abs(hi), Math.abs(lo), 1e-300); it++) {
    const mid = (lo + hi) / 2;
    if (below(mid) >= k) hi = mid;
    else lo = mid;
  }
  return (lo + hi) / 2;
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

function normalise(v: Float64Array): number {
  const n = Math.sqrt(dot(v, v));
  if (n > 0) for (let i = 0; i < v.length; i++) v[i]! /= n;
  return n;
}

/** Spectral norms of every layer's W_down, W_gate, W_up and the post-attention norm's max |gamma|. */
export async function spectralNorms(spec: ModelSpec, weights: WeightSource, opts: PowerIterationOptions = {}): Promise<SpectralNorms> {
  const layers: SpectralNorms['layers'] = [];
  for (const l of spec.layers) {
    const gamma = await weights.vector(l.ffnNorm.weight);
    let gmax = 0;
    for (const g of gamma) gmax = Math.max(gmax, Math.abs(g));
    layers.push({
      layer: l.index,
      down: spectralNorm(await weights.linear(l.down), opts),
      gate: spectralNorm(await weights.linear(l.gate), opts),
      up: spectralNorm(await weights.linear(l.up), opts),
      gmax,
    });
  }
  return { layers };
}
