import { float16ToFloat32 } from '@llm-bip/onnx-io';
import { describe, expect, it } from 'vitest';
import { argmaxRow } from './decode-loop.js';

/** The reference: decode every value to float32 (onnx-io's table) and keep the first strict maximum. */
function argmaxDecoded(bits: Uint16Array, base: number, vocab: number): number {
  const x = float16ToFloat32(bits.subarray(base, base + vocab));
  let best = 0;
  let bestV = -Infinity;
  for (let v = 0; v < vocab; v++) {
    if (x[v]! > bestV) {
      bestV = x[v]!;
      best = v;
    }
  }
  return best;
}

describe('argmaxRow', () => {
  it('float16 bits: the same index as decoding the values first, on random rows and the special values', () => {
    let s = 12345;
    const rand = (): number => {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      return s >>> 16;
    };
    const specials = [0x0000, 0x8000, 0x7c00, 0xfc00, 0x7e00, 0xfe01, 0x0001, 0x8001, 0x7bff, 0xfbff, 0x3c00, 0xbc00];
    for (let row = 0; row < 2000; row++) {
      const vocab = 1 + (rand() % 40);
      const bits = new Uint16Array(vocab + 3);
      for (let i = 0; i < bits.length; i++) {
        const r = rand();
        // mostly random bit patterns, some specials, some narrow-range values to force ties
        bits[i] = r % 7 === 0 ? specials[r % specials.length]! : r % 5 === 0 ? 0x3c00 + (r % 3) : rand();
      }
      expect(argmaxRow(bits, 3, vocab)).toBe(argmaxDecoded(bits, 3, vocab));
    }
    // every value NaN: 0, as the float comparison gives; +0 and -0 tie, the first wins
    expect(argmaxRow(new Uint16Array([0x7e00, 0xfe00, 0x7c01]), 0, 3)).toBe(0);
    expect(argmaxRow(new Uint16Array([0xbc00, 0x8000, 0x0000]), 0, 3)).toBe(1);
  });

  it('float32: the first strict maximum', () => {
    expect(argmaxRow(new Float32Array([9, 1, 5, 5, -2]), 1, 4)).toBe(1);
    expect(argmaxRow(new Float32Array([NaN, -Infinity, NaN]), 0, 3)).toBe(0);
    expect(argmaxRow(new Float32Array([-3, NaN, -1]), 0, 3)).toBe(2);
  });
});
