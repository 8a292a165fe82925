import { createMatMul } from '@llm-bip/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blockedCholesky, blockedCholeskySolve, choleskyInPlace, choleskySolveInPlace, hostMatMul, lowerInverse, factorGroup, solveGroup, type MatMul } from './cholesky.js';

/** Deterministic values in [-0.5, 0.5). */
function values(count: number, seed: number): Float64Array {
  let s = seed >>> 0;
  return Float64Array.from({ length: count }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  });
}

/**
 * A covariance-like SPD matrix: (1/N) XᵀX of N random tokens over `rank` latent directions, plus a ridge
 * of `ridge` · mean(diag). rank < k with a small ridge gives a condition number of about 1/ridge.
 */
function spd(k: number, seed: number, rank: number, ridge: number): Float64Array {
  const n = 2 * rank + 3;
  const z = values(n * rank, seed);
  const mix = values(rank * k, seed + 1);
  const x = new Float64Array(n * k);
  for (let t = 0; t < n; t++) for (let r = 0; r < rank; r++) for (let j = 0; j < k; j++) x[t * k + j]! += z[t * rank + r]! * mix[r * k + j]!;
  const a = new Float64Array(k * k);
  for (let i = 0; i < k; i++) {
    for (let j = 0; j <= i; j++) {
      let s = 0;
      for (let t = 0; t < n; t++) s += x[t * k + i]! * x[t * k + j]!;
      a[i * k + j] = a[j * k + i] = s / n;
    }
  }
  let diag = 0;
  for (let i = 0; i < k; i++) diag += a[i * k + i]!;
  for (let i = 0; i < k; i++) a[i * k + i]! += (ridge * diag) / k;
  return a;
}

/** Normwise backward error of X for A X = B (∞-norms): ‖AX − B‖ / (‖A‖‖X‖ + ‖B‖); about k·eps for a stable solver. */
function backwardError(a: Float64Array, k: number, x: Float64Array, b: Float64Array, m: number): number {
  const rowSum = (v: Float64Array, rows: number, cols: number) => {
    let worst = 0;
    for (let i = 0; i < rows; i++) {
      let s = 0;
      for (let j = 0; j < cols; j++) s += Math.abs(v[i * cols + j]!);
      worst = Math.max(worst, s);
    }
    return worst;
  };
  const r = new Float64Array(k * m);
  for (let i = 0; i < k; i++) {
    for (let o = 0; o < m; o++) {
      let s = -b[i * m + o]!;
      for (let p = 0; p < k; p++) s += a[i * k + p]! * x[p * m + o]!;
      r[i * m + o] = s;
    }
  }
  return rowSum(r, k, m) / (rowSum(a, k, k) * rowSum(x, k, m) + rowSum(b, k, m));
}

/** max |x − y| over the lower triangle (or all of it) / max |y| */
function relDiff(x: Float64Array, y: Float64Array, lowerOf?: number): number {
  let d = 0;
  let s = 0;
  for (let i = 0; i < y.length; i++) {
    if (lowerOf !== undefined && i % lowerOf > Math.floor(i / lowerOf)) continue;
    d = Math.max(d, Math.abs(x[i]! - y[i]!));
    s = Math.max(s, Math.abs(y[i]!));
  }
  return d / s;
}

let ort: { matmul: MatMul; close(): Promise<void> };
beforeAll(async () => {
  const b = await createMatMul({ ep: 'cpu' });
  // consume passed through: the blocked routines must not read an operand they gave up (detached here)
  ort = { matmul: (a, r, n, c, m, consume) => b.matmul(a, r, n, c, m, consume), close: () => b.close() };
});
afterAll(async () => ort.close());

describe('hostMatMul', () => {
  it('equals the ORT float64 MatMul to rounding (1e-14 of the largest entry)', async () => {
    for (const [r, n, c] of [[1, 1, 1], [5, 3, 7], [64, 300, 33]] as const) {
      const a = values(r * n, r + n);
      const b = values(n * c, c);
      // not bit-identical: MLAS sums in another order (measured 1.04e-15 at inner 300)
      expect(relDiff(await ort.matmul(a, r, n, b, c), await hostMatMul(a, r, n, b, c))).toBeLessThan(1e-14);
    }
    await expect(hostMatMul(new Float64Array(5), 2, 3, new Float64Array(3), 1)).rejects.toThrow(/A has 5 values for 2 x 3/);
  });
});

describe('lowerInverse', () => {
  it('is the inverse of a lower triangle (L · L⁻¹ = I to 1e-13)', () => {
    const k = 40;
    const l = spd(k, 3, k, 0.01);
    expect(choleskyInPlace(l, k)).toBe(true);
    const inv = lowerInverse(l, k);
    for (let i = 0; i < k; i++) {
      for (let j = 0; j < k; j++) {
        let s = 0;
        for (let p = 0; p <= i; p++) s += l[i * k + p]! * inv[p * k + j]!;
        expect(Math.abs(s - (i === j ? 1 : 0))).toBeLessThan(1e-13);
      }
    }
  });
});

describe('blockedCholesky / blockedCholeskySolve', () => {
  /*
   * Against the unblocked kernels, block 256 (one to three blocks) and block 3 (up to 234), on the host and
   * the ORT product. Measured with the right-looking order this file tested first (the left-looking order
   * now used passes the same bounds; max over the cases below, both backends):
   * - condition ~1e2 (full rank, ridge 0.01): L 3.4e-15, X 3.5e-14 relative to the largest entry;
   * - condition ~1e6 (rank k/4, ridge 1e-6): L 5.8e-12, X 1.6e-8: the two solvers differ by what the
   *   conditioning amplifies; both are backward stable, ‖AX − B‖/(‖A‖‖X‖ + ‖B‖) 3.6e-16 blocked (the
   *   inverted 256-wide diagonal blocks), 6.3e-17 unblocked.
   */
  const cases = [
    { k: 1, block: 256 },
    { k: 7, block: 256 },
    { k: 7, block: 3 },
    { k: 300, block: 256 },
    { k: 300, block: 3 },
    { k: 700, block: 256 },
    { k: 700, block: 3 },
  ];
  const matrices = new Map<string, Float64Array>();
  const spdOnce = (k: number, rank: number, ridge: number) => {
    const key = `${k} ${rank} ${ridge}`;
    if (!matrices.has(key)) matrices.set(key, spd(k, k + rank, rank, ridge));
    return matrices.get(key)!;
  };
  for (const backend of ['host', 'ort'] as const) {
    for (const { k, block } of cases) {
      for (const [rank, ridge, tolL, tolX] of [[k, 0.01, 1e-14, 1e-13], [Math.max(1, Math.floor(k / 4)), 1e-6, 1e-11, 1e-7]] as const) {
        it(`${backend}, k ${k}, block ${block}, rank ${rank}, ridge ${ridge}: equals the unblocked factor and solve`, async () => {
          const mm = backend === 'host' ? hostMatMul : ort.matmul;
          const a = spdOnce(k, rank, ridge);
          const m = 5;
          const rhs = values(k * m, 7 * k);
          const ref = a.slice();
          expect(choleskyInPlace(ref, k)).toBe(true);
          const xRef = rhs.slice();
          choleskySolveInPlace(ref, k, xRef, m);
          const f = await blockedCholesky(a.slice(), k, mm, block);
          expect(f).toBeDefined();
          const x = rhs.slice();
          await blockedCholeskySolve(f!, x, m, mm);
          expect(relDiff(f!.l, ref, k)).toBeLessThan(tolL);
          expect(relDiff(x, xRef)).toBeLessThan(tolX);
          expect(backwardError(a, k, x, rhs, m)).toBeLessThan(1e-15);
        });
      }
    }
  }

  it('factors in groups of blocks: the same L for any group size, with fewer factored values sent to the products (sqrt(2k / 3·block) blocks a group)', async () => {
    const k = 700;
    const block = 3;
    const a = spdOnce(k, Math.floor(k / 4), 1e-6);
    const factor = async (group?: number) => {
      let sent = 0;
      // the factored columns' share (the first operand of each product): k³/(6·block) values in one level
      const counting: MatMul = (x, r, i, y, c, consume) => {
        sent += x.length;
        return hostMatMul(x, r, i, y, c, consume);
      };
      const f = await blockedCholesky(a.slice(), k, counting, block, group);
      return { f: f!, sent };
    };
    const one = await factor(1); // one level: every block column takes all the columns before it
    expect(factorGroup(k, block)).toBe(12);
    const rhs = values(k * 5, 13);
    for (const group of [2, 5, undefined, 1000]) {
      const g = await factor(group);
      // condition ~1e6: the summation order shows at 1e-12 (the bound the blocked and unblocked factors meet above: 1e-11)
      expect(relDiff(g.f.l, one.f.l, k), `group ${group}`).toBeLessThan(1e-11);
      const x = rhs.slice();
      await blockedCholeskySolve(g.f, x, 5);
      expect(backwardError(a, k, x, rhs, 5)).toBeLessThan(1e-15);
      // one level ≈ 1.9e7 values; groups of 12 blocks: k³/(6·36) + k²·36/(4·3) ≈ 3.1e6
      if (group === undefined) expect(g.sent).toBeLessThan(one.sent / 4);
    }
    await expect(blockedCholesky(a.slice(), k, hostMatMul, block, 0)).rejects.toThrow(/group 0 must be a positive integer/);
  });

  it('solves in groups of blocks: the same X for any group size, with fewer values sent to the products (sqrt(k / block) blocks a group)', async () => {
    const k = 700;
    const block = 3;
    const m = 5;
    const a = spdOnce(k, k, 0.01);
    const rhs = values(k * m, 11);
    const f = (await blockedCholesky(a.slice(), k, hostMatMul, block))!;
    const solve = async (group?: number) => {
      let sent = 0;
      // the right-hand sides' share of what goes to the products (the second operand): it grows with m,
      // the factor's share (k²/2 values) does not
      const counting: MatMul = (x, r, i, y, c, consume) => {
        sent += y.length;
        return hostMatMul(x, r, i, y, c, consume);
      };
      const x = rhs.slice();
      await blockedCholeskySolve(f, x, m, counting, group);
      return { x, sent };
    };
    const one = await solve(1); // one level: the solved prefix goes with every block
    expect(solveGroup(k, block)).toBe(15);
    for (const group of [2, 7, undefined, 1000]) {
      const g = await solve(group);
      expect(relDiff(g.x, one.x), `group ${group}`).toBeLessThan(1e-12);
      expect(backwardError(a, k, g.x, rhs, m)).toBeLessThan(1e-15);
      // one level: k²m/(2·block) ≈ 408k values; groups of 15 blocks: k²m/(2·45) + k·45·m/(2·block) ≈ 53k (+7k for both)
      if (group === undefined) expect(g.sent).toBeLessThan(one.sent / 5);
    }
    await expect(blockedCholeskySolve(f, rhs.slice(), m, hostMatMul, 0)).rejects.toThrow(/group 0 must be a positive integer/);
  });

  it('resolves to undefined when a later block is not positive definite, and checks its arguments', async () => {
    const k = 10;
    const a = new Float64Array(k * k);
    for (let i = 0; i < k; i++) a[i * k + i] = 1;
    // [[1, 2], [2, 1]] on rows 5-6, across blocks 2 and 3 (block 3): block 2 factors, its trailing update leaves -3 on row 6
    a[6 * k + 5] = a[5 * k + 6] = 2;
    expect(await blockedCholesky(a.slice(), k, hostMatMul, 3)).toBeUndefined();
    const unblocked = a.slice();
    expect(choleskyInPlace(unblocked, k)).toBe(false);
    await expect(blockedCholesky(a.slice(), k, hostMatMul, 0)).rejects.toThrow(/block 0 must be a positive integer/);
    await expect(blockedCholesky(a, 9)).rejects.toThrow(/100 values, expected 9 x 9/);
    const f = (await blockedCholesky(Float64Array.from({ length: 4 }, (_, i) => (i % 3 === 0 ? 2 : 0)), 2))!;
    await expect(blockedCholeskySolve(f, new Float64Array(5), 2)).rejects.toThrow(/5 values, expected 2 x 2/);
  });
});
