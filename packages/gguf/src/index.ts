export { GgufError } from './errors.js';
export { GGUF_MAGIC, GGUF_VERSION, GGUF_DEFAULT_ALIGNMENT, ALIGNMENT_KEY, GgufValueType, alignUp, type GgufValueTypeCode } from './format.js';
export { GgmlType, QK8_0, blockSizeOf, decodeValues, encodeValues, ggmlTypeName, isKnownGgmlType, tensorBytes, type GgmlTypeCode, type GgmlTypeName } from './tensor-types.js';
export { bool, f32, f32s, i32, i32s, str, strs, u32, u32s, valueProblem, type GgufMetadata, type GgufScalarType, type GgufValue } from './values.js';
export { alignmentOf, encodeHeader, type EncodedHeader, type GgufTensorInfo, type PlacedTensor } from './header.js';
export { writeGguf, type GgufTensorSource, type WriteGgufOptions, type WriteGgufResult } from './writer.js';
export { readGgufHeader, readGgufTensor, readGgufTensorBytes, MAX_HEADER_BYTES, type GgufFile, type GgufTensorEntry } from './reader.js';
