import { open } from 'node:fs/promises';
import type { TensorProto } from '../proto/types.js';
import { externalDataRef, resolveExternalLocation } from './location.js';

export class ExternalDataError extends Error {
  override name = 'ExternalDataError';
}

/** Read exactly one tensor's bytes from its external data file (only that range is read). */
export async function readExternalBytes(t: TensorProto, baseDir: string, expectedLength?: number): Promise<Uint8Array> {
  const ref = externalDataRef(t);
  const path = resolveExternalLocation(baseDir, ref.location, t.name ?? '?');
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    throw new ExternalDataError(
      `tensor "${t.name}": cannot open external data file ${path} (${(e as NodeJS.ErrnoException).code}). Keep the .onnx.data file beside the .onnx file.`,
    );
  }
  try {
    const size = (await fh.stat()).size;
    const length = ref.length ?? expectedLength ?? size - ref.offset;
    if (ref.offset + length > size) {
      throw new ExternalDataError(
        `tensor "${t.name}": external data ${ref.location} is truncated (needs bytes ${ref.offset}..${ref.offset + length}, file has ${size}). Re-export or re-copy the model.`,
      );
    }
    const buf = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await fh.read(buf, done, length - done, ref.offset + done);
      if (bytesRead === 0) throw new ExternalDataError(`tensor "${t.name}": unexpected end of ${path}`);
      done += bytesRead;
    }
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  } finally {
    await fh.close();
  }
}
