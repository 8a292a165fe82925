import { describe, expect, it } from 'vitest';
import { RuntimeError } from './errors.js';
import { createMatMul } from './matmul.js';

/** Deterministic values in [-0.5, 0.5). */
function values(count: number, seed: number): Float64Array {
  let s = seed >>> 0;
  return Float64Array.from({ length: count }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  });
}

/** Reference: plain float64 dot products, and the sum of |a||b| per entry (the rounding-error scale). */
function reference(a: Float64Array, r: number, n: number, b: Float64Array, c: number): { y: Float64Array; scale: Float64Array } {
  const y = new Float64Array(r * c);
  const scale = new Float64Array(r * c);
  for (let i = 0; i < r; i++) {
    for (let j = 0; j < c; j++) {
      let s = 0;
      let t = 0;
      for (let p = 0; p < n; p++) {
        s += a[i * n + p]! * b[p * c + j]!;
        t += Math.abs(a[i * n + p]! * b[p * c + j]!);
      }
      y[i * c + j] = s;
      scale[i * c + j] = t;
    }
  }
  return { y, scale };
}

describe('createMatMul', () => {
  it('moves consumed operands to the session thread (detached here) and copies the others (left intact)', async () => {
    const mm = await createMatMul({ ep: 'cpu' });
    try {
      const a = values(12, 1);
      const b = values(20, 2);
      const want = reference(a, 3, 4, b, 5).y;
      const keptA = a.slice();
      const y = await mm.matmul(a, 3, 4, b, 5, { b: true });
      for (let i = 0; i < y.length; i++) expect(y[i]).toBeCloseTo(want[i]!, 14);
      // a was copied: still readable, unchanged; b was moved: its buffer is detached
      expect(a).toEqual(keptA);
      expect(b.byteLength).toBe(0);
      // a view is copied to a fitting array before it crosses: the buffer behind it stays whole even when consumed
      const big = values(40, 3);
      const view = big.subarray(8, 20);
      await mm.matmul(view, 3, 4, values(20, 2), 5, { a: true });
      expect(big.byteLength).toBe(40 * 8);
      // the same array as both operands, consumed once: one move, a correct product
      const sq = values(9, 4);
      const want2 = reference(sq, 3, 3, sq, 3).y;
      const y2 = await mm.matmul(sq, 3, 3, sq, 3, { a: true });
      for (let i = 0; i < 9; i++) expect(y2[i]).toBeCloseTo(want2[i]!, 14);
    } finally {
      await mm.close();
    }
  });

  it('multiplies float64 matrices of any shape with one session, to rounding (1e-15 of sum |a||b|)', async () => {
    const mm = await createMatMul({ ep: 'cpu' });
    try {
      expect(mm.ep).toBe('cpu');
      for (const [r, n, c] of [[1, 1, 1], [3, 5, 2], [37, 64, 19], [130, 257, 71]] as const) {
        // operands as views into larger buffers: only the view may be used
        const a = values(r * n + 7, r).subarray(7);
        const b = values(n * c + 3, c).subarray(3);
        const got = await mm.matmul(a, r, n, b, c);
        const ref = reference(a, r, n, b, c);
        expect(got.length).toBe(r * c);
        let worst = 0;
        for (let i = 0; i < r * c; i++) worst = Math.max(worst, Math.abs(got[i]! - ref.y[i]!) / ref.scale[i]!);
        // float64 accumulation in another order: a few ulps of the absolute sum (float32 would be ~1e-7)
        expect(worst).toBeLessThan(1e-15);
      }
      expect(await mm.matmul(new Float64Array(0), 0, 4, new Float64Array(8), 2)).toEqual(new Float64Array(0));
      expect(await mm.matmul(new Float64Array(0), 2, 0, new Float64Array(0), 3)).toEqual(new Float64Array(6));
      await expect(mm.matmul(new Float64Array(5), 2, 3, new Float64Array(3), 1)).rejects.toThrow(/A has 5 values for 2 x 3/);
    } finally {
      await mm.close();
    }
    await expect(mm.matmul(new Float64Array(1), 1, 1, new Float64Array(1), 1)).rejects.toBeInstanceOf(RuntimeError);
  });
});
