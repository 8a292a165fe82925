import { DataType, type DataTypeCode } from '../proto/types.js';
import { TensorDataError } from './claims.js';

const BYTES: Partial<Record<number, number>> = {
  [DataType.FLOAT]: 4,
  [DataType.UINT8]: 1,
  [DataType.INT8]: 1,
  [DataType.UINT16]: 2,
  [DataType.INT16]: 2,
  [DataType.INT32]: 4,
  [DataType.INT64]: 8,
  [DataType.BOOL]: 1,
  [DataType.FLOAT16]: 2,
  [DataType.DOUBLE]: 8,
  [DataType.UINT32]: 4,
  [DataType.UINT64]: 8,
  [DataType.BFLOAT16]: 2,
};

const NAMES: Record<number, string> = Object.fromEntries(Object.entries(DataType).map(([k, v]) => [v, k.toLowerCase()]));

/** Bytes per element of an ONNX data type; throws for types this project does not handle (string, 4-bit, ...). */
export function elementSize(dataType: number): number {
  const n = BYTES[dataType];
  if (n === undefined) throw new TensorDataError(`ONNX data type ${dataTypeName(dataType)} (${dataType}) is not supported here`);
  return n;
}

export function dataTypeName(dataType: number): string {
  return NAMES[dataType] ?? `type#${dataType}`;
}

/** 'float32' | 'float16' | 'bfloat16' for floating weight types, else undefined. */
export function floatKind(dataType: number): 'float32' | 'float16' | 'bfloat16' | 'float64' | undefined {
  switch (dataType) {
    case DataType.FLOAT:
      return 'float32';
    case DataType.FLOAT16:
      return 'float16';
    case DataType.BFLOAT16:
      return 'bfloat16';
    case DataType.DOUBLE:
      return 'float64';
    default:
      return undefined;
  }
}

export function isDataTypeCode(v: number): v is DataTypeCode {
  return v in NAMES;
}
