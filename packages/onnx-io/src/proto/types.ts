/**
 * TypeScript view of ONNX messages: onnx-proto's interfaces (IR 8), extended with the IR 9-11 fields
 * that our schema (schema.ts) decodes. int64 fields are `Long` after decode; accept numbers on build.
 */
import type { onnx } from 'onnx-proto';
import type Long from 'long';

export type Int64 = number | Long;

export interface StringStringEntry {
  key?: string | null;
  value?: string | null;
}

export interface TensorProto extends Omit<onnx.ITensorProto, 'dims' | 'int64Data' | 'uint64Data' | 'externalData' | 'rawData'> {
  dims?: Int64[] | null;
  int64Data?: Int64[] | null;
  uint64Data?: Int64[] | null;
  rawData?: Uint8Array | null;
  externalData?: StringStringEntry[] | null;
  metadataProps?: StringStringEntry[] | null;
}

export interface AttributeProto extends Omit<onnx.IAttributeProto, 't' | 'g' | 'tensors' | 'graphs' | 'i' | 'ints'> {
  i?: Int64 | null;
  ints?: Int64[] | null;
  t?: TensorProto | null;
  g?: GraphProto | null;
  tensors?: TensorProto[] | null;
  graphs?: GraphProto[] | null;
}

export interface NodeProto extends Omit<onnx.INodeProto, 'attribute'> {
  attribute?: AttributeProto[] | null;
  overload?: string | null;
  metadataProps?: StringStringEntry[] | null;
  deviceConfigurations?: unknown[] | null;
}

export interface ValueInfoProto extends onnx.IValueInfoProto {
  metadataProps?: StringStringEntry[] | null;
}

export interface GraphProto extends Omit<onnx.IGraphProto, 'node' | 'initializer' | 'input' | 'output' | 'valueInfo'> {
  node?: NodeProto[] | null;
  initializer?: TensorProto[] | null;
  input?: ValueInfoProto[] | null;
  output?: ValueInfoProto[] | null;
  valueInfo?: ValueInfoProto[] | null;
  metadataProps?: StringStringEntry[] | null;
}

export interface OperatorSetId {
  domain?: string | null;
  version?: Int64 | null;
}

export interface ModelProto extends Omit<onnx.IModelProto, 'graph' | 'opsetImport' | 'irVersion' | 'modelVersion' | 'functions' | 'metadataProps'> {
  irVersion?: Int64 | null;
  modelVersion?: Int64 | null;
  opsetImport?: OperatorSetId[] | null;
  graph?: GraphProto | null;
  metadataProps?: StringStringEntry[] | null;
  functions?: unknown[] | null;
  configuration?: unknown[] | null;
}

/** ONNX TensorProto.DataType values used in this project. */
export const DataType = {
  UNDEFINED: 0,
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13,
  BFLOAT16: 16,
} as const;
export type DataTypeCode = (typeof DataType)[keyof typeof DataType];

/** Convert a decoded int64 (Long or number) to a JS number; throws if it is not exactly representable. */
export function toNumber(v: Int64 | null | undefined): number {
  if (v === null || v === undefined) return 0;
  if (typeof v === 'number') return v;
  const n = v.toNumber();
  if (!Number.isSafeInteger(n)) {
    // INT64_MAX / INT64_MIN are legitimate "to the end" markers (Slice); callers that care check them.
    return n > 0 ? Number.MAX_SAFE_INTEGER : Number.MIN_SAFE_INTEGER;
  }
  return n;
}
