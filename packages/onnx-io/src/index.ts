export * from './proto/types.js';
export { decodeModel, encodeModel, OnnxDecodeError } from './proto/codec.js';
export { findUnknownFields, type UnknownField } from './proto/unknown-fields.js';
export { onnxRoot, ModelProtoType, TensorProtoType, GraphProtoType } from './proto/schema.js';
export * from './spec.js';
export * from './plan.js';
export * from './tensor/index.js';
export * from './external-data/index.js';
