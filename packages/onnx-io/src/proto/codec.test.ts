import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fixtures } from '@llm-bip/testing';
import { decodeModel, encodeModel, OnnxDecodeError } from './codec.js';
import { findUnknownFields } from './unknown-fields.js';
import { ModelProtoType } from './schema.js';

describe('ONNX codec', () => {
  for (const [name, path] of [
    ['torchscript', fixtures.torchscript],
    ['dynamo (IR 10, node metadata_props)', fixtures.dynamo],
    ['genai builder', fixtures.genai],
  ] as const) {
    it(`re-encodes the ${name} fixture byte for byte`, () => {
      const bytes = readFileSync(path);
      const model = decodeModel(bytes, path);
      const again = encodeModel(model);
      expect(again.length).toBe(bytes.length);
      expect(Buffer.compare(Buffer.from(again), bytes)).toBe(0);
    });
  }

  it('keeps IR 10 node metadata_props that onnx-proto 8 would drop', () => {
    const model = decodeModel(readFileSync(fixtures.dynamo));
    const withMeta = model.graph!.node!.filter((n) => (n.metadataProps?.length ?? 0) > 0);
    expect(withMeta.length).toBeGreaterThan(0);
  });

  it('names fields the schema does not know instead of dropping them', () => {
    const model = decodeModel(readFileSync(fixtures.genai));
    const bytes = encodeModel(model);
    // append ModelProto field 99 (varint) — not in any ONNX IR
    const extra = new Uint8Array([...bytes, 0x98, 0x06, 1]); // tag varint of (99 << 3 | 0)
    expect(findUnknownFields(ModelProtoType, extra)).toEqual([{ path: 'ModelProto', fieldNumber: 99, wireType: 0 }]);
    expect(() => decodeModel(extra, 'x.onnx')).toThrow(/field #99/);
  });

  it('rejects truncated bytes with a clear error', () => {
    const bytes = readFileSync(fixtures.genai);
    expect(() => decodeModel(bytes.subarray(0, bytes.length - 7), 'cut.onnx')).toThrow(OnnxDecodeError);
    expect(() => decodeModel(bytes.subarray(0, bytes.length - 7), 'cut.onnx')).toThrow(/truncated or corrupt/);
  });
});
