import { describe, expect, it } from 'vitest';
import { seededRng } from './rng.js';
import { largestTridiagonalEigenvalue, spectralNorm } from './spectral.js';
import type { LinearWeight } from './weights.js';

/** Largest eigenvalue of a symmetric matrix by cyclic Jacobi rotations (an independent exact method). */
function jacobiMaxEigen(a: number[][]): number {
  const n = a.length;
  const m = a.map((r) => r.slice());
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += m[p]![q]! ** 2;
    if (off < 1e-30) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        if (Math.abs(m[p]![q]!) < 1e-300) continue;
        const theta = (m[q]![q]! - m[p]![p]!) / (2 * m[p]![q]!);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const mkp = m[k]![p]!;
          const mkq = m[k]![q]!;
          m[k]![p] = c * mkp - s * mkq;
          m[k]![q] = s * mkp + c * mkq;
        }
        for (let k = 0; k < n; k++) {
          const mpk = m[p]![k]!;
          const mqk = m[q]![k]!;
          m[p]![k] = c * mpk - s * mqk;
          m[q]![k] = s * mpk + c * mqk;
        }
      }
    }
  }
  return Math.max(...m.map((r, i) => r[i]!));
}

function randomMatrix(rows: number, cols: number, seed: number): LinearWeight {
  const r = seededRng(seed);
  return { inFeatures: rows, outFeatures: cols, data: Float32Array.from({ length: rows * cols }, () => r.next() * 2 - 1) };
}

describe('spectralNorm', () => {
  it('equals the exact largest singular value (Jacobi on W^T W) of small matrices', () => {
    for (const [rows, cols, seed] of [
      [7, 5, 1],
      [12, 20, 2],
      [30, 9, 3],
    ] as const) {
      const w = randomMatrix(rows, cols, seed);
      const wtw = Array.from({ length: cols }, (_, a) =>
        Array.from({ length: cols }, (_, b) => {
          let s = 0;
          for (let i = 0; i < rows; i++) s += w.data[i * cols + a]! * w.data[i * cols + b]!;
          return s;
        }),
      );
      const exact = Math.sqrt(jacobiMaxEigen(wtw));
      expect(Math.abs(spectralNorm(w) / exact - 1)).toBeLessThan(1e-11);
    }
  });

  it('converges when the top singular values nearly tie (slow for plain power iteration)', () => {
    const n = 60;
    const data = new Float32Array(n * n);
    for (let i = 0; i < n; i++) data[i * n + i] = i === 0 ? 10 : i === 1 ? 9.999 : 1 + i / n;
    // rotate so that the structure is not axis-aligned: W = D P with a cyclic permutation P
    const w = { inFeatures: n, outFeatures: n, data: new Float32Array(n * n) };
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) w.data[i * n + ((j + 7) % n)] = data[i * n + j]!;
    expect(spectralNorm(w)).toBeCloseTo(10, 9);
  });

  it('largestTridiagonalEigenvalue agrees with Jacobi', () => {
    const a = [2, -1, 3, 0.5, 4];
    const b = [1, 0.3, -2, 0.7];
    const dense = a.map((_, i) => a.map((__, j) => (i === j ? a[i]! : Math.abs(i - j) === 1 ? b[Math.min(i, j)]! : 0)));
    expect(largestTridiagonalEigenvalue(a, b)).toBeCloseTo(jacobiMaxEigen(dense), 12);
  });

  it('is exact on a diagonal matrix and zero on a zero matrix', () => {
    const d = { inFeatures: 3, outFeatures: 3, data: Float32Array.from([2, 0, 0, 0, -5, 0, 0, 0, 1]) };
    expect(spectralNorm(d)).toBeCloseTo(5, 10);
    expect(spectralNorm({ inFeatures: 2, outFeatures: 2, data: new Float32Array(4) })).toBe(0);
  });
});
