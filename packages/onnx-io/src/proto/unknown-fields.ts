/**
 * Finds protobuf fields that our ONNX schema does not know, by walking the wire format alongside the
 * schema. protobufjs skips unknown fields on decode; a model loader that silently dropped them would
 * write a different model than it read, so loadModel fails naming them instead.
 */
import protobuf from 'protobufjs';

export interface UnknownField {
  /** message path, e.g. "ModelProto.graph.node[12]" */
  path: string;
  fieldNumber: number;
  wireType: number;
}

export function findUnknownFields(type: protobuf.Type, bytes: Uint8Array, path = type.name, limit = 20): UnknownField[] {
  const out: UnknownField[] = [];
  walk(type, protobuf.Reader.create(bytes), bytes.length, path, out, limit);
  return out;
}

function walk(type: protobuf.Type, reader: protobuf.Reader, end: number, path: string, out: UnknownField[], limit: number): void {
  const counts = new Map<number, number>();
  while (reader.pos < end && out.length < limit) {
    const tag = reader.uint32();
    const id = tag >>> 3;
    const wire = tag & 7;
    const field = type.fieldsById[id];
    if (!field) {
      out.push({ path, fieldNumber: id, wireType: wire });
      reader.skipType(wire);
      continue;
    }
    field.resolve();
    const sub = field.resolvedType;
    if (sub instanceof protobuf.Type && wire === 2) {
      const len = reader.uint32();
      const idx = counts.get(id) ?? 0;
      counts.set(id, idx + 1);
      const childPath = field.repeated ? `${path}.${field.name}[${idx}]` : `${path}.${field.name}`;
      walk(sub, reader, reader.pos + len, childPath, out, limit);
      reader.pos = reader.pos; // walk leaves the reader at the end of the sub-message
    } else {
      reader.skipType(wire);
    }
  }
  reader.pos = Math.max(reader.pos, end);
}
