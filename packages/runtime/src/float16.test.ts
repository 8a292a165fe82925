import { describe, expect, it } from 'vitest';
import { decodeHalf, encodeHalf, float16ToFloat32, float32ToFloat16 } from './float16.js';

describe('float16', () => {
  it('decodes known bit patterns', () => {
    expect(decodeHalf(0x3c00)).toBe(1);
    expect(decodeHalf(0xc000)).toBe(-2);
    expect(decodeHalf(0x7bff)).toBe(65504);
    expect(decodeHalf(0x0001)).toBe(2 ** -24);
    expect(decodeHalf(0x7c00)).toBe(Infinity);
    expect(Number.isNaN(decodeHalf(0x7e00))).toBe(true);
    expect(decodeHalf(0x3555)).toBeCloseTo(0.33325195, 8);
  });

  it('round-trips every non-NaN half value', () => {
    const bits = new Uint16Array(65536).map((_, i) => i);
    const f32 = float16ToFloat32(bits);
    const back = float32ToFloat16(f32);
    for (let i = 0; i < 65536; i++) {
      if (Number.isNaN(f32[i])) continue;
      if (back[i] !== i) throw new Error(`bits ${i.toString(16)} -> ${f32[i]} -> ${back[i]!.toString(16)}`);
    }
  });

  it('rounds to nearest even', () => {
    // 1 + 2^-11 lies halfway between 1 and 1 + 2^-10: ties go to the even mantissa (1)
    expect(encodeHalf(1 + 2 ** -11)).toBe(0x3c00);
    expect(encodeHalf(1 + 3 * 2 ** -11)).toBe(0x3c02);
  });
});
