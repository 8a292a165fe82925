/**
 * GGUF v3, the layout llama.cpp reads (ggml/src/gguf.cpp, gguf-py/gguf/constants.py), all little-endian:
 *
 *   u32 magic "GGUF" · u32 version 3 · u64 tensor count · u64 metadata count
 *   metadata: string key · u32 value type · value         (string = u64 byte length + UTF-8 bytes)
 *   tensor infos: string name · u32 n_dims · u64 ne[n_dims] · u32 ggml type · u64 offset
 *   zero padding to `general.alignment` (default 32), then the data section: each tensor at its offset
 *   (relative to the section start), every tensor padded to the alignment, offsets in order with no gaps.
 *
 * `ne` is ggml's order: ne[0] is the innermost (contiguous) dimension, so a row-major [rows, cols]
 * matrix is ne = [cols, rows]. This package speaks row-major `shape` and reverses it on the way in and out.
 */
export const GGUF_MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
export const GGUF_VERSION = 3;
export const GGUF_DEFAULT_ALIGNMENT = 32;
export const ALIGNMENT_KEY = 'general.alignment';

/** Metadata value types (gguf_type). */
export const GgufValueType = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;
export type GgufValueTypeCode = (typeof GgufValueType)[keyof typeof GgufValueType];

/** Bytes of one fixed-size scalar of each metadata type (strings and arrays have none). */
export const SCALAR_SIZE: Partial<Record<GgufValueTypeCode, number>> = {
  0: 1,
  1: 1,
  2: 2,
  3: 2,
  4: 4,
  5: 4,
  6: 4,
  7: 1,
  10: 8,
  11: 8,
  12: 8,
};

export function alignUp(n: number, alignment: number): number {
  return Math.ceil(n / alignment) * alignment;
}
