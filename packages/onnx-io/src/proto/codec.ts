import { ModelProtoType } from './schema.js';
import type { ModelProto } from './types.js';
import { findUnknownFields } from './unknown-fields.js';
import { categorisedError } from '../errors.js';

export class OnnxDecodeError extends categorisedError('OnnxDecodeError', 'input') {}

/**
 * Decode ModelProto bytes. Throws OnnxDecodeError naming the problem when the bytes are not a
 * model (truncated, corrupt) or carry fields this schema does not know (they would be lost on save).
 */
export function decodeModel(bytes: Uint8Array, source = 'model'): ModelProto {
  let model: ModelProto;
  try {
    model = ModelProtoType.decode(bytes) as unknown as ModelProto;
  } catch (e) {
    throw new OnnxDecodeError(
      `${source} is not a readable ONNX model (${(e as Error).message}). The file is truncated or corrupt: re-export or re-download it.`,
    );
  }
  if (!model.graph) {
    throw new OnnxDecodeError(`${source} decodes as protobuf but holds no graph: is it an ONNX model file?`);
  }
  let unknown: ReturnType<typeof findUnknownFields>;
  try {
    unknown = findUnknownFields(ModelProtoType, bytes);
  } catch (e) {
    // the lenient decode above may skip bytes that the field-by-field walk finds malformed
    throw new OnnxDecodeError(`${source} is not a readable ONNX model (${(e as Error).message}). The file is truncated or corrupt: re-export or re-download it.`);
  }
  if (unknown.length > 0) {
    const list = unknown.slice(0, 5).map((u) => `${u.path} field #${u.fieldNumber}`).join(', ');
    throw new OnnxDecodeError(
      `${source} has protobuf fields this ONNX schema (IR 11) does not know: ${list}. Saving would drop them; upgrade llm-bip or report the exporter that wrote them.`,
    );
  }
  return model;
}

export function encodeModel(model: ModelProto): Uint8Array {
  // encode() accepts plain objects with the schema's field names; fromObject would copy every weight.
  return ModelProtoType.encode(model as unknown as Record<string, unknown>).finish();
}
