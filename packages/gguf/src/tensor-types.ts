/**
 * The ggml tensor types this package writes and reads, their sizes, and the conversions from float32:
 * F32, F16 (IEEE half), BF16, and Q8_0 (blocks of 32 values: an f16 scale d = max|x| / 127, then 32 int8
 * q = round(x / d); ggml's quantize_row_q8_0_ref).
 */
import { bfloat16ToFloat32, float16ToFloat32, float32ToBfloat16, float32ToFloat16, halfToFloat, floatToHalf } from '@llm-bip/onnx-io';
import { GgufError } from './errors.js';

/** ggml_type codes. */
export const GgmlType = { F32: 0, F16: 1, Q8_0: 8, BF16: 30 } as const;
export type GgmlTypeName = keyof typeof GgmlType;
export type GgmlTypeCode = (typeof GgmlType)[GgmlTypeName];

interface TypeLayout {
  /** values per block */
  blockSize: number;
  /** bytes per block */
  blockBytes: number;
}

const LAYOUT: Record<GgmlTypeCode, TypeLayout> = {
  0: { blockSize: 1, blockBytes: 4 },
  1: { blockSize: 1, blockBytes: 2 },
  8: { blockSize: 32, blockBytes: 34 },
  30: { blockSize: 1, blockBytes: 2 },
};

export const QK8_0 = 32;

export function ggmlTypeName(code: number): string {
  const name = (Object.keys(GgmlType) as GgmlTypeName[]).find((k) => GgmlType[k] === code);
  return name ?? `ggml type ${code}`;
}

export function isKnownGgmlType(code: number): code is GgmlTypeCode {
  return code in LAYOUT;
}

export function blockSizeOf(type: GgmlTypeCode): number {
  return LAYOUT[type].blockSize;
}

/**
 * Bytes of a tensor of `type` with row-major `shape`. Block types need the innermost dimension (the
 * row length) to be a multiple of the block size, as ggml does.
 */
export function tensorBytes(type: GgmlTypeCode, shape: readonly number[]): number {
  const { blockSize, blockBytes } = LAYOUT[type];
  const rowLength = shape.length === 0 ? 1 : shape[shape.length - 1]!;
  if (rowLength % blockSize !== 0) {
    throw new GgufError(`a ${ggmlTypeName(type)} tensor needs rows of a multiple of ${blockSize} values; shape [${shape.join(', ')}] has rows of ${rowLength}`);
  }
  const count = shape.reduce((a, b) => a * b, 1);
  return (count / blockSize) * blockBytes;
}

/** Encode float32 values (whole rows of a tensor) as `type`. */
export function encodeValues(values: Float32Array, type: GgmlTypeCode): Uint8Array {
  switch (type) {
    case GgmlType.F32:
      return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
    case GgmlType.F16: {
      const out = float32ToFloat16(values);
      return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
    }
    case GgmlType.BF16: {
      const out = float32ToBfloat16(values);
      return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
    }
    case GgmlType.Q8_0:
      return quantizeQ8_0(values);
  }
}

/** Decode `count` values of `type` from `bytes` into float32. */
export function decodeValues(bytes: Uint8Array, type: GgmlTypeCode, count: number): Float32Array {
  const need = tensorBytes(type, [count]);
  if (bytes.length < need) throw new GgufError(`${count} ${ggmlTypeName(type)} values need ${need} bytes, got ${bytes.length}`);
  const copy = bytes.slice(0, need); // aligned for typed views
  switch (type) {
    case GgmlType.F32:
      return new Float32Array(copy.buffer);
    case GgmlType.F16:
      return float16ToFloat32(new Uint16Array(copy.buffer));
    case GgmlType.BF16:
      return bfloat16ToFloat32(new Uint16Array(copy.buffer));
    case GgmlType.Q8_0:
      return dequantizeQ8_0(copy, count);
  }
}

function quantizeQ8_0(values: Float32Array): Uint8Array {
  if (values.length % QK8_0 !== 0) throw new GgufError(`Q8_0 needs a multiple of ${QK8_0} values, got ${values.length}`);
  const blocks = values.length / QK8_0;
  const out = new Uint8Array(blocks * 34);
  const view = new DataView(out.buffer);
  for (let b = 0; b < blocks; b++) {
    const base = b * QK8_0;
    let amax = 0;
    for (let i = 0; i < QK8_0; i++) amax = Math.max(amax, Math.abs(values[base + i]!));
    // ggml computes d and 1/d in float32 and rounds x * (1/d) half away from zero (roundf)
    const d = Math.fround(amax / 127);
    const id = d !== 0 ? Math.fround(1 / d) : 0;
    view.setUint16(b * 34, floatToHalf(d), true);
    for (let i = 0; i < QK8_0; i++) {
      const x = Math.fround(values[base + i]! * id);
      out[b * 34 + 2 + i] = roundHalfAway(x) & 0xff;
    }
  }
  return out;
}

function roundHalfAway(x: number): number {
  return x < 0 ? -Math.round(-x) : Math.round(x);
}

function dequantizeQ8_0(bytes: Uint8Array, count: number): Float32Array {
  const out = new Float32Array(count);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let b = 0; b < count / QK8_0; b++) {
    const d = halfToFloat(view.getUint16(b * 34, true));
    for (let i = 0; i < QK8_0; i++) out[b * QK8_0 + i] = d * view.getInt8(b * 34 + 2 + i);
  }
  return out;
}
