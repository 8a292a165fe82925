import { describe, expect, it } from 'vitest';
import { makeTokenBatch } from './tensors.js';

describe('makeTokenBatch', () => {
  it('right-pads to the longest row, masks the padding, keeps counting positions', () => {
    const b = makeTokenBatch([[5, 6, 7], [8]], 0);
    expect([b.batch, b.seq]).toEqual([2, 3]);
    expect(Array.from(b.ids.data as BigInt64Array, Number)).toEqual([5, 6, 7, 8, 0, 0]);
    expect(Array.from(b.attentionMask.data as BigInt64Array, Number)).toEqual([1, 1, 1, 1, 0, 0]);
    expect(Array.from(b.positionIds.data as BigInt64Array, Number)).toEqual([0, 1, 2, 0, 1, 2]);
    expect(b.lengths).toEqual([3, 1]);
  });

  it('rounds the padded length up to seqMultiple', () => {
    const b = makeTokenBatch([[1, 2, 3, 4, 5], [9]], 2, 4);
    expect(b.seq).toBe(8);
    expect(b.ids.dims).toEqual([2, 8]);
    expect(Array.from(b.ids.data as BigInt64Array, Number).slice(0, 8)).toEqual([1, 2, 3, 4, 5, 2, 2, 2]);
    expect(Array.from(b.attentionMask.data as BigInt64Array, Number).slice(8)).toEqual([1, 0, 0, 0, 0, 0, 0, 0]);
    expect(makeTokenBatch([[1, 2, 3, 4]], 0, 4).seq).toBe(4);
  });

  it('rejects an empty batch and a bad multiple', () => {
    expect(() => makeTokenBatch([])).toThrow(/empty batch/);
    expect(() => makeTokenBatch([[1]], 0, 0)).toThrow(/seqMultiple must be a positive integer/);
  });
});
