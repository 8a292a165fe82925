import { describe, expect, it } from 'vitest';
import { DataType } from '../proto/types.js';
import { inlineTensorIntegers, makeTensor, readTensorAsFloat32, readTensorBytes, tensorDims } from './tensor-data.js';

describe('tensor data', () => {
  it('builds and reads back fp32, fp16 and bf16 tensors', async () => {
    const values = [0.5, -1.25, 2, 1024];
    for (const dt of [DataType.FLOAT, DataType.FLOAT16, DataType.BFLOAT16] as const) {
      const t = makeTensor('w', dt, [2, 2], values);
      expect(tensorDims(t)).toEqual([2, 2]);
      expect(Array.from(await readTensorAsFloat32(t, '.'))).toEqual(values);
    }
  });

  it('reads the typed repeated fields when there is no raw_data', async () => {
    const t = { name: 'f', dataType: DataType.FLOAT, dims: [3], floatData: [1, 2, 3] };
    expect(Array.from(await readTensorAsFloat32(t, '.'))).toEqual([1, 2, 3]);
    const i = { name: 'i', dataType: DataType.INT64, dims: [2], int64Data: [4, -5] };
    expect(inlineTensorIntegers(i)).toEqual([4, -5]);
    expect((await readTensorBytes(i, '.')).length).toBe(16);
  });

  it('clamps INT64_MAX to MAX_SAFE_INTEGER (Slice "to the end")', () => {
    const t = makeTensor('ends', DataType.INT64, [1], BigInt64Array.from([9223372036854775807n]));
    expect(inlineTensorIntegers(t)).toEqual([Number.MAX_SAFE_INTEGER]);
  });

  it('refuses data of the wrong size', () => {
    expect(() => makeTensor('bad', DataType.FLOAT, [3], new Float32Array(2))).toThrow(/need 12/);
  });
});
