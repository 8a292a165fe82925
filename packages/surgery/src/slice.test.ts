import { describe, expect, it } from 'vitest';
import { runsOf, sliceAxis } from './slice.js';

const bytes = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

describe('sliceAxis', () => {
  // [3, 4]: value = 10 * row + column
  const m = Float32Array.from([0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23]);

  it('keeps columns (axis 1) and rows (axis 0) of fp32', () => {
    const cols = sliceAxis(bytes(m), [3, 4], 4, 1, [0, 2, 3]);
    expect(cols.dims).toEqual([3, 3]);
    expect(Array.from(new Float32Array(cols.bytes.buffer))).toEqual([0, 2, 3, 10, 12, 13, 20, 22, 23]);
    const rows = sliceAxis(bytes(m), [3, 4], 4, 0, [1]);
    expect(rows.dims).toEqual([1, 4]);
    expect(Array.from(new Float32Array(rows.bytes.buffer))).toEqual([10, 11, 12, 13]);
  });

  it('copies 2-byte elements (fp16/bf16) bit for bit, and 1-D biases', () => {
    const h = Uint16Array.from([0x3c00, 0xffff, 0x7c01, 0x0001, 0x8000, 0x1234]); // incl. NaN payloads
    const s = sliceAxis(bytes(h), [2, 3], 2, 1, [1, 2]);
    expect(Array.from(new Uint16Array(s.bytes.buffer))).toEqual([0xffff, 0x7c01, 0x8000, 0x1234]);
    const b = sliceAxis(bytes(h), [6], 2, 0, [0, 5]);
    expect(b.dims).toEqual([2]);
    expect(Array.from(new Uint16Array(b.bytes.buffer))).toEqual([0x3c00, 0x1234]);
  });

  it('keeps nothing (a zero-width weight) or everything', () => {
    expect(sliceAxis(bytes(m), [3, 4], 4, 1, []).bytes.length).toBe(0);
    expect(Array.from(sliceAxis(bytes(m), [3, 4], 4, 0, [0, 1, 2]).bytes)).toEqual(Array.from(bytes(m)));
  });

  it('refuses indices out of range or out of order, and wrong sizes', () => {
    expect(() => sliceAxis(bytes(m), [3, 4], 4, 1, [4])).toThrow(/out of range/);
    expect(() => sliceAxis(bytes(m), [3, 4], 4, 1, [2, 1])).toThrow(/not ascending/);
    expect(() => sliceAxis(bytes(m), [4, 4], 4, 1, [1])).toThrow(/expected 64/);
    expect(() => sliceAxis(bytes(m), [3, 2, 2], 4, 1, [1])).toThrow(/rank 3/);
  });
});

describe('index helpers', () => {
  it('runsOf groups contiguous indices', () => {
    expect(runsOf([0, 1, 2, 5, 7, 8])).toEqual([[0, 3], [5, 6], [7, 9]]);
  });
});

describe('sliceAxis on 8-byte and 1-byte elements', () => {
  it('moves whole elements, NaN payloads included', () => {
    const d = new Uint32Array([1, 0x7ff00001, 2, 3, 4, 5]); // three 8-byte elements, the first a signalling NaN
    const s = sliceAxis(new Uint8Array(d.buffer), [1, 3], 8, 1, [0, 2]);
    expect(Array.from(new Uint32Array(s.bytes.buffer))).toEqual([1, 0x7ff00001, 4, 5]);
    const u = Uint8Array.from([1, 2, 3, 4, 5, 6]);
    expect(Array.from(sliceAxis(u.subarray(1), [1, 5], 1, 1, [0, 4]).bytes)).toEqual([2, 6]);
  });
});
