import { RuntimeError } from './errors.js';
import { float16ToFloat32 } from './float16.js';
import { ort, type OrtTensor } from './ort.js';

/** A batch of token rows as the model sees it: ids right-padded to one length, with its mask. */
export interface TokenBatch {
  ids: OrtTensor;
  attentionMask: OrtTensor;
  positionIds: OrtTensor;
  /** Real (unpadded) length of every row. */
  lengths: number[];
  batch: number;
  seq: number;
}

/** An int64 tensor from plain numbers. */
export function int64Tensor(values: ArrayLike<number>, dims: readonly number[]): OrtTensor {
  const n = dims.reduce((a, b) => a * b, 1);
  if (n !== values.length) {
    throw new RuntimeError(`int64Tensor: ${values.length} values do not fill dims [${dims.join(', ')}] (${n} elements)`);
  }
  const data = new BigInt64Array(n);
  for (let i = 0; i < n; i++) data[i] = BigInt(values[i]!);
  return new ort.Tensor('int64', data, dims as number[]);
}

/**
 * Right-pads rows of token ids to a common length: padded positions get `padId` and mask 0.
 * Right padding never changes the logits of real positions of a causal model (they cannot see later
 * tokens), so results are independent of how rows are grouped into batches.
 * `seqMultiple` rounds the padded length up to a multiple of it: fewer distinct shapes, which matters
 * on EPs that compile kernels per shape (WebGPU).
 */
export function makeTokenBatch(rows: readonly (readonly number[])[], padId = 0, seqMultiple = 1): TokenBatch {
  if (rows.length === 0) throw new RuntimeError('makeTokenBatch: empty batch');
  if (!Number.isInteger(seqMultiple) || seqMultiple < 1) throw new RuntimeError(`makeTokenBatch: seqMultiple must be a positive integer, got ${seqMultiple}`);
  const longest = Math.max(...rows.map((r) => r.length));
  if (longest === 0) throw new RuntimeError('makeTokenBatch: every row is empty');
  const seq = Math.ceil(longest / seqMultiple) * seqMultiple;
  const batch = rows.length;
  const ids = new Array<number>(batch * seq).fill(padId);
  const mask = new Array<number>(batch * seq).fill(0);
  const pos = new Array<number>(batch * seq).fill(0);
  rows.forEach((row, b) => {
    for (let t = 0; t < row.length; t++) {
      ids[b * seq + t] = row[t]!;
      mask[b * seq + t] = 1;
      pos[b * seq + t] = t;
    }
    // positions of padding continue counting: harmless, and matches HF's cumsum-based ids for real tokens
    for (let t = row.length; t < seq; t++) pos[b * seq + t] = t;
  });
  return {
    ids: int64Tensor(ids, [batch, seq]),
    attentionMask: int64Tensor(mask, [batch, seq]),
    positionIds: int64Tensor(pos, [batch, seq]),
    lengths: rows.map((r) => r.length),
    batch,
    seq,
  };
}

/** Split items into consecutive groups of at most `size`. */
export function chunk<T>(items: readonly T[], size: number): T[][] {
  if (!Number.isInteger(size) || size < 1) throw new RuntimeError(`chunk: batch size must be a positive integer, got ${size}`);
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Float data of a tensor as float32, whatever its float type (float16 arrives as Uint16Array bits). */
export function toFloat32(tensor: OrtTensor): Float32Array {
  switch (tensor.type) {
    case 'float32':
      return tensor.data as Float32Array;
    case 'float16':
      return float16ToFloat32(tensor.data as Uint16Array);
    case 'float64':
      return Float32Array.from(tensor.data as Float64Array);
    default:
      throw new RuntimeError(`toFloat32: tensor of type ${tensor.type} is not a float tensor`);
  }
}
