/**
 * Metadata values with their GGUF type spelled out: llama.cpp checks the type of each key it reads
 * (u32 for counts, f32 for rope and norm constants, arrays of i32 or u32 for per-layer counts), so a
 * value never guesses its type from a JavaScript number.
 */
import { GgufValueType, type GgufValueTypeCode } from './format.js';

export type GgufScalarType = 'u8' | 'i8' | 'u16' | 'i16' | 'u32' | 'i32' | 'f32' | 'bool' | 'string' | 'u64' | 'i64' | 'f64';

export type GgufValue =
  | { type: Exclude<GgufScalarType, 'string' | 'bool'>; value: number }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string }
  | { type: 'array'; of: Exclude<GgufScalarType, 'string' | 'bool'>; value: readonly number[] }
  | { type: 'array'; of: 'bool'; value: readonly boolean[] }
  | { type: 'array'; of: 'string'; value: readonly string[] };

export const SCALAR_CODE: Record<GgufScalarType, GgufValueTypeCode> = {
  u8: GgufValueType.UINT8,
  i8: GgufValueType.INT8,
  u16: GgufValueType.UINT16,
  i16: GgufValueType.INT16,
  u32: GgufValueType.UINT32,
  i32: GgufValueType.INT32,
  f32: GgufValueType.FLOAT32,
  bool: GgufValueType.BOOL,
  string: GgufValueType.STRING,
  u64: GgufValueType.UINT64,
  i64: GgufValueType.INT64,
  f64: GgufValueType.FLOAT64,
};

export const scalarOfCode = (code: number): GgufScalarType | undefined =>
  (Object.keys(SCALAR_CODE) as GgufScalarType[]).find((k) => SCALAR_CODE[k] === code);

export const u32 = (value: number): GgufValue => ({ type: 'u32', value });
export const i32 = (value: number): GgufValue => ({ type: 'i32', value });
export const f32 = (value: number): GgufValue => ({ type: 'f32', value });
export const bool = (value: boolean): GgufValue => ({ type: 'bool', value });
export const str = (value: string): GgufValue => ({ type: 'string', value });
export const u32s = (value: readonly number[]): GgufValue => ({ type: 'array', of: 'u32', value });
export const i32s = (value: readonly number[]): GgufValue => ({ type: 'array', of: 'i32', value });
export const f32s = (value: readonly number[]): GgufValue => ({ type: 'array', of: 'f32', value });
export const strs = (value: readonly string[]): GgufValue => ({ type: 'array', of: 'string', value });

/** Metadata in file order. */
export type GgufMetadata = ReadonlyArray<readonly [key: string, value: GgufValue]>;

const RANGE: Partial<Record<GgufScalarType, [number, number]>> = {
  u8: [0, 0xff],
  i8: [-0x80, 0x7f],
  u16: [0, 0xffff],
  i16: [-0x8000, 0x7fff],
  u32: [0, 0xffffffff],
  i32: [-0x80000000, 0x7fffffff],
  u64: [0, Number.MAX_SAFE_INTEGER],
  i64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
};

/** Why `v` cannot be stored as `type` (an integer out of range, a fraction in an integer type), or undefined. */
export function valueProblem(type: GgufScalarType, v: unknown): string | undefined {
  if (type === 'string') return typeof v === 'string' ? undefined : `expected a string, got ${typeof v}`;
  if (type === 'bool') return typeof v === 'boolean' ? undefined : `expected a boolean, got ${typeof v}`;
  if (typeof v !== 'number' || Number.isNaN(v)) return `expected a number, got ${String(v)}`;
  const range = RANGE[type];
  if (range && (!Number.isInteger(v) || v < range[0] || v > range[1])) return `${v} is not a ${type} (integers ${range[0]}..${range[1]})`;
  return undefined;
}
