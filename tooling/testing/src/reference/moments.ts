import type { InputMoments } from '@llm-bip/model';
import { mulberry32 } from '@llm-bip/scoring';

/**
 * Σ x xᵀ and Σ x over token rows [from, to) of x ([tokens][width], a reference activation such as
 * LayerActivations.z or .s), in float64: what the probe's input moments (scoring's ProjectionMoments)
 * should hold.
 */
export function referenceInputMoments(x: Float64Array, width: number, from = 0, to = x.length / width): InputMoments {
  if (!Number.isInteger(x.length / width)) throw new Error(`reference moments: ${x.length} values are not rows of width ${width}`);
  const gram = new Float64Array(width * width);
  const sum = new Float64Array(width);
  for (let t = from; t < to; t++) {
    for (let i = 0; i < width; i++) {
      const xi = x[t * width + i]!;
      sum[i]! += xi;
      for (let j = 0; j < width; j++) gram[i * width + j]! += xi * x[t * width + j]!;
    }
  }
  return { tokens: to - from, gram, sum };
}

/** Correlated seeded tokens x = A z + c ([N][n], row-major, rank `rank`): a covariance far from diagonal, for solver tests. */
export function correlatedTokens(seed: number, N: number, n: number, rank = n): Float64Array {
  const next = mulberry32(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(next() + 1e-12)) * Math.cos(2 * Math.PI * next());
  const a = Float64Array.from({ length: n * rank }, gauss);
  const c = Float64Array.from({ length: n }, () => gauss() * 0.5);
  const x = new Float64Array(N * n);
  const z = new Float64Array(rank);
  for (let t = 0; t < N; t++) {
    for (let r = 0; r < rank; r++) z[r] = gauss();
    for (let i = 0; i < n; i++) {
      let s = c[i]!;
      for (let r = 0; r < rank; r++) s += a[i * rank + r]! * z[r]!;
      x[t * n + i] = s;
    }
  }
  return x;
}
