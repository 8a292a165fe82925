import { describe, expect, it } from 'vitest';
import { bfloat16ToFloat32, float16ToFloat32, float32ToBfloat16, float32ToFloat16, floatToHalf, halfToFloat } from './half.js';

describe('float16', () => {
  it('decodes known bit patterns', () => {
    expect(halfToFloat(0x3c00)).toBe(1);
    expect(halfToFloat(0xc000)).toBe(-2);
    expect(halfToFloat(0x7bff)).toBe(65504);
    expect(halfToFloat(0x0001)).toBe(2 ** -24);
    expect(halfToFloat(0x7c00)).toBe(Infinity);
    expect(Number.isNaN(halfToFloat(0x7e00))).toBe(true);
  });

  it('round-trips every finite half exactly', () => {
    for (let h = 0; h < 0x10000; h++) {
      const f = halfToFloat(h);
      if (Number.isNaN(f)) continue;
      expect(floatToHalf(f)).toBe(h);
    }
  });

  it('rounds to nearest even, overflows to infinity', () => {
    // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties to even (1)
    expect(floatToHalf(1 + 2 ** -11)).toBe(0x3c00);
    expect(floatToHalf(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(floatToHalf(70000)).toBe(0x7c00);
    expect(floatToHalf(2 ** -26)).toBe(0); // below half the smallest subnormal
  });

  it('bulk conversions agree with the scalar ones', () => {
    const src = Float32Array.from([0, -0.5, 3.14159, 1e-5, -60000]);
    const h = float32ToFloat16(src);
    expect(Array.from(h)).toEqual(Array.from(src, floatToHalf));
    expect(Array.from(float16ToFloat32(h))).toEqual(Array.from(h, halfToFloat));
  });
});

describe('bfloat16', () => {
  it('keeps the top 16 bits with round to nearest even', () => {
    const src = Float32Array.from([1, -2.5, 3.140625, 1 + 2 ** -8, 1 + 3 * 2 ** -8]);
    const b = float32ToBfloat16(src);
    expect(Array.from(bfloat16ToFloat32(b))).toEqual([1, -2.5, 3.140625, 1, 1 + 2 ** -6]);
  });
});
