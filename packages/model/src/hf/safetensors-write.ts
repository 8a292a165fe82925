/**
 * A small safetensors writer (whole file in one go), used to build tiny HF checkpoints for tests.
 * Written atomically (onnx-io's writeFileAtomic).
 */
import { writeFileAtomic } from '@llm-bip/onnx-io';
import { SAFETENSORS_DTYPE_BYTES, SafetensorsError, type SafetensorsDtype } from './safetensors.js';

export interface SafetensorsTensorInput {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** little-endian bytes in `dtype` */
  data: Uint8Array;
}

export function encodeSafetensors(tensors: SafetensorsTensorInput[], metadata: Record<string, string> = { format: 'pt' }): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const t of tensors) {
    const expected = t.shape.reduce((a, b) => a * b, 1) * SAFETENSORS_DTYPE_BYTES[t.dtype];
    if (t.data.byteLength !== expected) throw new SafetensorsError(`"${t.name}": ${t.data.byteLength} bytes for ${t.dtype} [${t.shape}] (need ${expected})`);
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + expected] };
    offset += expected;
  }
  let json = JSON.stringify(header);
  // pad with spaces so the data starts 8-byte aligned (the format allows trailing whitespace)
  json += ' '.repeat((8 - ((Buffer.byteLength(json) + 8) % 8)) % 8);
  const hbytes = Buffer.from(json, 'utf8');
  const out = new Uint8Array(8 + hbytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(hbytes.length), true);
  out.set(hbytes, 8);
  let pos = 8 + hbytes.length;
  for (const t of tensors) {
    out.set(t.data, pos);
    pos += t.data.byteLength;
  }
  return out;
}

export async function writeSafetensors(path: string, tensors: SafetensorsTensorInput[], metadata?: Record<string, string>): Promise<void> {
  await writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}
