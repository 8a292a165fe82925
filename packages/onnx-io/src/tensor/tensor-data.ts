/**
 * Reading and building TensorProto data: the raw bytes (inline or external), typed views, and
 * conversions to float32/float64 whatever the storage type.
 */
import Long from 'long';
import { DataType, toNumber, type DataTypeCode, type TensorProto } from '../proto/types.js';
import { isExternal, readExternalBytes } from '../external-data/index.js';
import { dataTypeName, elementSize } from './dtype.js';
import { TensorDataError, claimedByteLength, dimsProblem } from './claims.js';
import { bfloat16ToFloat32, float16ToFloat32, float32ToBfloat16, float32ToFloat16 } from './half.js';

export function tensorDims(t: TensorProto): number[] {
  return (t.dims ?? []).map((d) => toNumber(d));
}

/** Claims-vs-bytes for one tensor, without allocating: dims valid and, inline, data of exactly that size. */
export function tensorDataProblem(t: TensorProto): string | undefined {
  const dims = tensorDims(t);
  const bad = dimsProblem(dims);
  if (bad || isExternal(t)) return bad; // external ranges are checked against the data file by openExternalRange
  const dt = t.dataType ?? 0;
  const n = elementCount(dims);
  if (t.rawData && t.rawData.length > 0) {
    const size = elementSizeOrUndefined(dt);
    if (size !== undefined && t.rawData.length !== n * size) {
      return `has shape [${dims.join(', ')}] of ${dataTypeName(dt)} (${n * size} bytes) but ${t.rawData.length} bytes of raw_data`;
    }
    return undefined;
  }
  const typed = typedFieldLength(t);
  if (typed !== undefined && typed !== n) return `has shape [${dims.join(', ')}] (${n} elements) but ${typed} values of data`;
  return undefined;
}

function elementSizeOrUndefined(dt: number): number | undefined {
  try {
    return elementSize(dt);
  } catch {
    return undefined; // a type we never read (string, 4-bit): its size is not ours to check
  }
}

/** How many values the typed repeated field of the tensor's type holds (undefined: a type we do not read). */
function typedFieldLength(t: TensorProto): number | undefined {
  switch (t.dataType ?? 0) {
    case DataType.FLOAT:
      return t.floatData?.length ?? 0;
    case DataType.DOUBLE:
      return t.doubleData?.length ?? 0;
    case DataType.INT64:
      return t.int64Data?.length ?? 0;
    case DataType.UINT64:
      return t.uint64Data?.length ?? 0;
    case DataType.INT32:
    case DataType.FLOAT16:
    case DataType.BFLOAT16:
    case DataType.UINT16:
    case DataType.INT16:
    case DataType.INT8:
    case DataType.UINT8:
    case DataType.BOOL:
      return t.int32Data?.length ?? 0;
    default:
      return undefined;
  }
}

export function elementCount(dims: number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

export function tensorByteLength(t: TensorProto): number {
  return claimedByteLength(tensorDims(t), elementSize(t.dataType ?? 0), (p) => new TensorDataError(`tensor "${t.name}" ${p}: the model file is corrupt`));
}

/** The tensor's data as little-endian bytes, whichever field holds it (rawData, typed fields, external file). */
export async function readTensorBytes(t: TensorProto, baseDir: string): Promise<Uint8Array> {
  if (isExternal(t)) return readExternalBytes(t, baseDir, tensorByteLength(t));
  return inlineTensorBytes(t);
}

/** Bytes of a tensor whose data is inline (raw_data or the typed repeated fields). */
export function inlineTensorBytes(t: TensorProto): Uint8Array {
  const problem = tensorDataProblem(t);
  if (problem) throw new TensorDataError(`tensor "${t.name}" ${problem}: the model file is corrupt; re-export or re-download it`);
  if (t.rawData && t.rawData.length > 0) return t.rawData;
  const n = elementCount(tensorDims(t));
  const dt = t.dataType ?? 0;
  switch (dt) {
    case DataType.FLOAT:
      return bytesOf(Float32Array.from(t.floatData ?? []));
    case DataType.DOUBLE:
      return bytesOf(Float64Array.from(t.doubleData ?? []));
    case DataType.INT64:
      return bytesOf(BigInt64Array.from((t.int64Data ?? []).map(toBigInt)));
    case DataType.UINT64:
      return bytesOf(BigUint64Array.from((t.uint64Data ?? []).map((v) => BigInt.asUintN(64, toBigInt(v)))));
    case DataType.INT32:
      return bytesOf(Int32Array.from(t.int32Data ?? []));
    // int32_data also carries the narrow types, one element per entry
    case DataType.FLOAT16:
    case DataType.BFLOAT16:
    case DataType.UINT16:
      return bytesOf(Uint16Array.from(t.int32Data ?? []));
    case DataType.INT16:
      return bytesOf(Int16Array.from(t.int32Data ?? []));
    case DataType.INT8:
      return bytesOf(Int8Array.from(t.int32Data ?? []));
    case DataType.UINT8:
    case DataType.BOOL:
      return Uint8Array.from(t.int32Data ?? []);
    default:
      if (n === 0) return new Uint8Array(0);
      throw new TensorDataError(`tensor "${t.name}": reading ${dataTypeName(dt)} data is not supported`);
  }
}

function toBigInt(v: number | Long): bigint {
  return typeof v === 'number' ? BigInt(v) : BigInt(v.toString());
}

function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Copy into a fresh, aligned buffer so typed views of any width can be made. */
function aligned(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

/** A Uint16Array over `bytes` without copying when they are 2-byte aligned (the decoders below copy anyway). */
function uint16View(bytes: Uint8Array): Uint16Array {
  return bytes.byteOffset % 2 === 0 ? new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2) : new Uint16Array(aligned(bytes));
}

/**
 * Decode bytes of a floating type into a new float32 array (never a view of `bytes`). fp16, bf16 and
 * fp64 are converted straight from the bytes when aligned: the copy that aligning makes was a second
 * pass over every weight (90 MB for a 7B FFN matrix in fp16).
 */
export function bytesToFloat32(bytes: Uint8Array, dataType: number, name = '?'): Float32Array {
  switch (dataType) {
    case DataType.FLOAT:
      return new Float32Array(aligned(bytes));
    case DataType.FLOAT16:
      return float16ToFloat32(uint16View(bytes));
    case DataType.BFLOAT16:
      return bfloat16ToFloat32(uint16View(bytes));
    case DataType.DOUBLE:
      return Float32Array.from(bytes.byteOffset % 8 === 0 ? new Float64Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 8) : new Float64Array(aligned(bytes)));
    default:
      throw new TensorDataError(`tensor "${name}" is ${dataTypeName(dataType)}, expected a floating type`);
  }
}

export async function readTensorAsFloat32(t: TensorProto, baseDir: string): Promise<Float32Array> {
  const bytes = await readTensorBytes(t, baseDir);
  // external data is read into a fresh buffer of its own: float32 needs no copy (inline data belongs to the model)
  if (isExternal(t) && t.dataType === DataType.FLOAT && bytes.byteOffset % 4 === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  return bytesToFloat32(bytes, t.dataType ?? 0, t.name ?? '?');
}

export async function readTensorAsFloat64(t: TensorProto, baseDir: string): Promise<Float64Array> {
  if (t.dataType === DataType.DOUBLE) return new Float64Array(aligned(await readTensorBytes(t, baseDir)));
  return Float64Array.from(await readTensorAsFloat32(t, baseDir));
}

/** Integer tensor values as numbers (INT64_MAX/MIN clamp to +-MAX_SAFE_INTEGER: the "to the end" markers). */
export function inlineTensorIntegers(t: TensorProto): number[] {
  const bytes = inlineTensorBytes(t);
  const dt = t.dataType ?? 0;
  const buf = aligned(bytes);
  const clamp = (v: bigint) =>
    v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : v < BigInt(Number.MIN_SAFE_INTEGER) ? Number.MIN_SAFE_INTEGER : Number(v);
  switch (dt) {
    case DataType.INT64:
      return Array.from(new BigInt64Array(buf), clamp);
    case DataType.INT32:
      return Array.from(new Int32Array(buf));
    case DataType.UINT8:
    case DataType.BOOL:
      return Array.from(new Uint8Array(buf));
    case DataType.INT8:
      return Array.from(new Int8Array(buf));
    default:
      throw new TensorDataError(`tensor "${t.name}" is ${dataTypeName(dt)}, expected an integer type`);
  }
}

export type TensorValues = Float32Array | Float64Array | Uint16Array | Int32Array | BigInt64Array | Uint8Array | Int8Array;

/** Build an initializer with inline raw_data. `data` must already be in the storage type (Uint16Array for fp16/bf16). */
export function makeTensor(name: string, dataType: DataTypeCode, dims: number[], data: TensorValues | number[]): TensorProto {
  let view: ArrayBufferView;
  if (Array.isArray(data)) {
    switch (dataType) {
      case DataType.INT64:
        view = BigInt64Array.from(data, (v) => BigInt(v));
        break;
      case DataType.INT32:
        view = Int32Array.from(data);
        break;
      case DataType.FLOAT:
        view = Float32Array.from(data);
        break;
      case DataType.FLOAT16:
        view = float32ToFloat16(data);
        break;
      case DataType.BFLOAT16:
        view = float32ToBfloat16(data);
        break;
      case DataType.DOUBLE:
        view = Float64Array.from(data);
        break;
      default:
        view = Uint8Array.from(data);
    }
  } else {
    view = data;
  }
  const expected = elementCount(dims) * elementSize(dataType);
  if (view.byteLength !== expected) {
    throw new Error(`makeTensor("${name}"): ${view.byteLength} bytes for dims [${dims}] of ${dataTypeName(dataType)} (need ${expected})`);
  }
  return {
    name,
    dataType,
    dims: dims.slice(),
    rawData: new Uint8Array(view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength)),
  };
}

/** Encode float32 values into the storage type's bytes (fp32, fp16, bf16, fp64). */
export function encodeFloats(values: Float32Array | Float64Array, dataType: number): Uint8Array {
  switch (dataType) {
    case DataType.FLOAT:
      return bytesOf(values instanceof Float32Array ? values : Float32Array.from(values));
    case DataType.FLOAT16:
      return bytesOf(float32ToFloat16(values));
    case DataType.BFLOAT16:
      return bytesOf(float32ToBfloat16(values));
    case DataType.DOUBLE:
      return bytesOf(values instanceof Float64Array ? values : Float64Array.from(values));
    default:
      throw new Error(`cannot encode floats as ${dataTypeName(dataType)}`);
  }
}
