/** Claims vs bytes: a file's dims, lengths and offsets are checked against the bytes it holds. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '@llm-bip/testing';
import { graph, model, node } from '../graph/graph.testutil.js';
import { encodeModel } from '../proto/codec.js';
import { DataType } from '../proto/types.js';
import { loadModel } from '../model-file.js';
import { TensorDataError, byteClaimProblem, dimsProblem, rangesProblem } from './claims.js';
import { inlineTensorBytes } from './tensor-data.js';

describe('claims', () => {
  it('dims: non-negative integers within the limits', () => {
    expect(dimsProblem([2, 3])).toBeUndefined();
    expect(dimsProblem([-1])).toMatch(/not a non-negative integer/);
    expect(dimsProblem([1.5])).toMatch(/not a non-negative integer/);
    expect(dimsProblem([null])).toMatch(/not a non-negative integer/);
    expect(dimsProblem([2 ** 20, 2 ** 20])).toMatch(/over the limit/);
  });

  it('bytes: shape x element size must equal the bytes present', () => {
    expect(byteClaimProblem([2, 3], 4, 24)).toBeUndefined();
    expect(byteClaimProblem([2, 3], 4, 20)).toMatch(/24 bytes\) but 20 bytes/);
  });

  it('ranges: inside the data, not reversed, not overlapping', () => {
    expect(rangesProblem([{ name: 'a', begin: 0, end: 8 }, { name: 'b', begin: 8, end: 16 }], 16)).toBeUndefined();
    expect(rangesProblem([{ name: 'a', begin: 0, end: 8 }, { name: 'b', begin: 4, end: 12 }], 16)).toMatch(/"b" \[4, 12\) overlaps "a"/);
    expect(rangesProblem([{ name: 'a', begin: 0, end: 20 }], 16)).toMatch(/only 16 are present/);
    expect(rangesProblem([{ name: 'a', begin: 8, end: 4 }], 16)).toMatch(/not a valid range/);
  });
});

describe('inline tensors', () => {
  const tmp = tempDir('llm-bip-claims-');
  afterAll(tmp.cleanup);

  const withWeight = (dims: number[], raw: Uint8Array) =>
    model(
      graph({
        inputs: [['x', DataType.FLOAT, [1]]],
        outputs: [['y', DataType.FLOAT, [1]]],
        initializers: [{ name: 'w', dataType: DataType.FLOAT, dims, rawData: raw }],
        nodes: [node('Add', ['x', 'w'], ['y'], { name: 'add' })],
      }),
    );

  it('a tensor whose dims claim more bytes than its raw_data holds is refused on load, naming the tensor', async () => {
    const path = join(tmp.dir, 'claims.onnx');
    writeFileSync(path, encodeModel(withWeight([1000, 1000], new Uint8Array(16))));
    await expect(loadModel(path)).rejects.toThrow(TensorDataError);
    await expect(loadModel(path)).rejects.toThrow(/tensor "w" has shape \[1000, 1000\] of float \(4000000 bytes\) but 16 bytes of raw_data/);
  });

  it('a matching tensor loads, and reading a mismatched one directly throws before allocating', async () => {
    const path = join(tmp.dir, 'ok.onnx');
    writeFileSync(path, encodeModel(withWeight([4], new Uint8Array(16))));
    await expect(loadModel(path)).resolves.toBeDefined();
    expect(() => inlineTensorBytes({ name: 'w', dataType: DataType.FLOAT, dims: [2 ** 40], floatData: [1] })).toThrow(/over the limit/);
  });
});
