import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '@llm-bip/testing';
import { DataType } from '../proto/types.js';
import { float32ToBfloat16, float32ToFloat16 } from './half.js';
import { bytesToFloat32, inlineTensorIntegers, makeTensor, readTensorAsFloat32, readTensorBytes, tensorDims } from './tensor-data.js';

const tmp = tempDir('onnx-io-tensor-data-');
afterAll(tmp.cleanup);

describe('tensor data', () => {
  it('builds and reads back fp32, fp16 and bf16 tensors', async () => {
    const values = [0.5, -1.25, 2, 1024];
    for (const dt of [DataType.FLOAT, DataType.FLOAT16, DataType.BFLOAT16] as const) {
      const t = makeTensor('w', dt, [2, 2], values);
      expect(tensorDims(t)).toEqual([2, 2]);
      expect(Array.from(await readTensorAsFloat32(t, '.'))).toEqual(values);
    }
  });

  it('decodes at any byte offset (aligned: no copy first) into a new array, never a view of the bytes', () => {
    const values = [0.5, -1.25, 2, 1024, -3.5];
    const encodings = [
      [DataType.FLOAT, new Uint8Array(Float32Array.from(values).buffer)],
      [DataType.FLOAT16, new Uint8Array(float32ToFloat16(values).buffer)],
      [DataType.BFLOAT16, new Uint8Array(float32ToBfloat16(values).buffer)],
      [DataType.DOUBLE, new Uint8Array(Float64Array.from(values).buffer)],
    ] as const;
    for (const [dt, raw] of encodings) {
      for (const offset of [0, 1, 8]) {
        const buf = new Uint8Array(raw.length + 16);
        buf.set(raw, offset);
        const bytes = buf.subarray(offset, offset + raw.length);
        const out = bytesToFloat32(bytes, dt);
        expect(Array.from(out), `type ${dt} at offset ${offset}`).toEqual(values);
        out.fill(0);
        expect(Array.from(bytesToFloat32(bytes, dt))).toEqual(values);
      }
    }
  });

  it('reads external float32 data into an array of its own for each read', async () => {
    const values = Float32Array.from([1.5, -2, 3.25, 4]);
    writeFileSync(join(tmp.dir, 'w.bin'), new Uint8Array([9, 9, 9, 9, ...new Uint8Array(values.buffer)]));
    const t = { name: 'w', dataType: DataType.FLOAT, dims: [4], dataLocation: 1, externalData: [{ key: 'location', value: 'w.bin' }, { key: 'offset', value: '4' }] };
    const a = await readTensorAsFloat32(t, tmp.dir);
    expect(Array.from(a)).toEqual(Array.from(values));
    a.fill(0);
    expect(Array.from(await readTensorAsFloat32(t, tmp.dir))).toEqual(Array.from(values));
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
