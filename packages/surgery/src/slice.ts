/**
 * Keeping a subset of indices along one axis of a 1-D or 2-D tensor, byte-wise: the storage type
 * (fp32, fp16, bf16, ...) only sets the element size, so nothing is converted.
 */
import { SurgeryError } from './errors.js';

/** Indices [start, end) runs of an ascending index list, so rows/columns are copied in blocks. */
export function runsOf(keep: readonly number[]): Array<[number, number]> {
  const runs: Array<[number, number]> = [];
  for (const i of keep) {
    const last = runs[runs.length - 1];
    if (last && last[1] === i) last[1] = i + 1;
    else runs.push([i, i + 1]);
  }
  return runs;
}

/**
 * Keep `keep` (ascending, unique) along `axis` of a tensor with `dims` (rank 1 or 2) stored as
 * `bytes` with `elementSize` bytes per element. Returns the new bytes and dims.
 */
export function sliceAxis(
  bytes: Uint8Array,
  dims: readonly number[],
  elementSize: number,
  axis: number,
  keep: readonly number[],
  name = '?',
  /** a reusable output buffer (the result is a view of it when it is large enough) */
  into?: Uint8Array,
): { bytes: Uint8Array; dims: number[] } {
  if (dims.length !== 1 && dims.length !== 2) throw new SurgeryError(`tensor "${name}" has rank ${dims.length}; surgery slices only 1-D and 2-D weights`);
  if (axis < 0 || axis >= dims.length) throw new SurgeryError(`tensor "${name}": axis ${axis} is outside its rank ${dims.length}`);
  const n = dims[axis]!;
  for (let i = 0; i < keep.length; i++) {
    const k = keep[i]!;
    if (!Number.isInteger(k) || k < 0 || k >= n || (i > 0 && k <= keep[i - 1]!)) {
      throw new SurgeryError(`tensor "${name}": kept index ${k} at position ${i} is out of range 0..${n - 1} or not ascending`);
    }
  }
  const expected = dims.reduce((a, b) => a * b, 1) * elementSize;
  if (bytes.length !== expected) throw new SurgeryError(`tensor "${name}": ${bytes.length} bytes for dims [${dims}] (expected ${expected})`);
  const rows = dims.length === 2 ? dims[0]! : 1;
  const cols = dims.length === 2 ? dims[1]! : dims[0]!;
  const runs = runsOf(keep);
  const newDims = dims.slice();
  newDims[axis] = keep.length;
  const outBytes = newDims.reduce((a, b) => a * b, 1) * elementSize;
  const out = into && into.length >= outBytes ? into.subarray(0, outBytes) : new Uint8Array(outBytes);
  if (dims.length === 2 && axis === 0) {
    const rowBytes = cols * elementSize;
    let o = 0;
    for (const [s, e] of runs) {
      out.set(bytes.subarray(s * rowBytes, e * rowBytes), o);
      o += (e - s) * rowBytes;
    }
  } else {
    gatherColumns(bytes, out, rows, cols, elementSize, keep);
  }
  return { bytes: out, dims: newDims };
}

/**
 * out[r, j] = in[r, keep[j]] for every row. Elements move as unsigned integers (a whole word per
 * element, two for 8-byte types), so NaN payloads survive; one typed-array loop is ~10x faster than a
 * subarray copy per run when the kept columns are scattered.
 */
function gatherColumns(bytes: Uint8Array, out: Uint8Array, rows: number, cols: number, elementSize: number, keep: readonly number[]): void {
  const words = elementSize === 8 ? 2 : 1;
  const wordSize = elementSize === 8 ? 4 : elementSize;
  if (![1, 2, 4].includes(wordSize)) throw new SurgeryError(`cannot slice elements of ${elementSize} bytes`);
  const src = bytes.byteOffset % wordSize === 0 ? bytes : bytes.slice();
  const view = (b: Uint8Array) =>
    wordSize === 1 ? b : wordSize === 2 ? new Uint16Array(b.buffer, b.byteOffset, b.byteLength / 2) : new Uint32Array(b.buffer, b.byteOffset, b.byteLength / 4);
  const a = view(src);
  const o = view(out);
  const idx = Int32Array.from(keep, (k) => k * words);
  const n = keep.length;
  const rowWords = cols * words;
  let w = 0;
  for (let r = 0; r < rows; r++) {
    const base = r * rowWords;
    if (words === 1) {
      for (let j = 0; j < n; j++) o[w++] = a[base + idx[j]!]!;
    } else {
      for (let j = 0; j < n; j++) {
        const at = base + idx[j]!;
        o[w++] = a[at]!;
        o[w++] = a[at + 1]!;
      }
    }
  }
}
