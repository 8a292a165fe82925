/**
 * safetensors writing, used to build HF checkpoints for tests and benchmarks: a small one in one go
 * (`writeSafetensors`), or a large one streamed tensor by tensor, chunk by chunk
 * (`writeSafetensorsStreamed`), so a multi-GB shard is never held in memory. Both write atomically
 * (onnx-io's temp file + rename) and share one header encoder.
 */
import { ExternalDataWriter, writeFileAtomic } from '@llm-bip/onnx-io';
import { SAFETENSORS_DTYPE_BYTES, SafetensorsError, type SafetensorsDtype } from './safetensors.js';

export interface SafetensorsTensorInput {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** little-endian bytes in `dtype` */
  data: Uint8Array;
}

/** A tensor's name, type and shape: what the header says about it. */
export type SafetensorsTensorHeader = Omit<SafetensorsTensorInput, 'data'>;

function byteLengthOf(t: SafetensorsTensorHeader): number {
  return t.shape.reduce((a, b) => a * b, 1) * SAFETENSORS_DTYPE_BYTES[t.dtype];
}

/** The 8-byte length + JSON header of a file holding `tensors` back to back, in order; and the data size. */
export function encodeSafetensorsHeader(tensors: SafetensorsTensorHeader[], metadata: Record<string, string> = { format: 'pt' }): { header: Uint8Array; dataBytes: number } {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const t of tensors) {
    const n = byteLengthOf(t);
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + n] };
    offset += n;
  }
  let json = JSON.stringify(header);
  // pad with spaces so the data starts 8-byte aligned (the format allows trailing whitespace)
  json += ' '.repeat((8 - ((Buffer.byteLength(json) + 8) % 8)) % 8);
  const hbytes = Buffer.from(json, 'utf8');
  const out = new Uint8Array(8 + hbytes.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(hbytes.length), true);
  out.set(hbytes, 8);
  return { header: out, dataBytes: offset };
}

export function encodeSafetensors(tensors: SafetensorsTensorInput[], metadata: Record<string, string> = { format: 'pt' }): Uint8Array {
  for (const t of tensors) {
    const expected = byteLengthOf(t);
    if (t.data.byteLength !== expected) throw new SafetensorsError(`"${t.name}": ${t.data.byteLength} bytes for ${t.dtype} [${t.shape}] (need ${expected})`);
  }
  const { header, dataBytes } = encodeSafetensorsHeader(tensors, metadata);
  const out = new Uint8Array(header.length + dataBytes);
  out.set(header, 0);
  let pos = header.length;
  for (const t of tensors) {
    out.set(t.data, pos);
    pos += t.data.byteLength;
  }
  return out;
}

export async function writeSafetensors(path: string, tensors: SafetensorsTensorInput[], metadata?: Record<string, string>): Promise<void> {
  await writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}

/**
 * Write a safetensors file whose tensors come in pieces: `fill(tensor, write)` is called once per tensor,
 * in order, and must `write` exactly the tensor's bytes, in order, in chunks of any size. Memory stays at
 * one chunk; the file appears at `path` only when every tensor is complete.
 */
export async function writeSafetensorsStreamed(
  path: string,
  tensors: SafetensorsTensorHeader[],
  fill: (tensor: SafetensorsTensorHeader, write: (chunk: Uint8Array) => Promise<void>) => Promise<void>,
  metadata?: Record<string, string>,
): Promise<{ bytes: number }> {
  const { header } = encodeSafetensorsHeader(tensors, metadata);
  // alignment 1: safetensors data is contiguous, without gaps between tensors
  const out = await ExternalDataWriter.create(path, 1);
  try {
    await out.append(header);
    for (const t of tensors) {
      const expected = byteLengthOf(t);
      let written = 0;
      await fill(t, async (chunk) => {
        if (written + chunk.byteLength > expected) throw new SafetensorsError(`"${t.name}": more than its ${expected} bytes were written`);
        await out.append(chunk);
        written += chunk.byteLength;
      });
      if (written !== expected) throw new SafetensorsError(`"${t.name}": ${written} bytes written for ${t.dtype} [${t.shape}] (need ${expected})`);
    }
    const bytes = out.size;
    await out.commit();
    return { bytes };
  } catch (e) {
    await out.abort();
    throw e;
  }
}
