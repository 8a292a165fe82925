import { open, type FileHandle } from 'node:fs/promises';
import type { TensorProto } from '../proto/types.js';
import { externalDataRef, resolveExternalLocation, type ExternalDataRef } from './location.js';
import { categorisedError } from '../errors.js';

export class ExternalDataError extends categorisedError('ExternalDataError', 'input') {}

/** An external tensor's file, range and open handle, after the bounds are checked. Close `handle`. */
export interface OpenedExternalRange {
  path: string;
  ref: ExternalDataRef;
  offset: number;
  length: number;
  handle: FileHandle;
}

/**
 * Open a tensor's external data file and check its range: the location must be safe, the file must
 * exist, and offset + length must lie inside it. `expectedLength` (dims x element size) is checked
 * against the stored length when both are known.
 */
export async function openExternalRange(t: TensorProto, baseDir: string, expectedLength?: number): Promise<OpenedExternalRange> {
  const ref = externalDataRef(t);
  const path = resolveExternalLocation(baseDir, ref.location, t.name ?? '?');
  if (ref.length !== undefined && expectedLength !== undefined && ref.length !== expectedLength) {
    throw new ExternalDataError(
      `tensor "${t.name}": external data length ${ref.length} does not match its dims and type (${expectedLength} bytes). The model file is corrupt.`,
    );
  }
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (e) {
    throw new ExternalDataError(
      `tensor "${t.name}": cannot open external data file ${path} (${(e as NodeJS.ErrnoException).code}). Keep the data file "${ref.location}" beside the .onnx file.`,
    );
  }
  try {
    const size = (await handle.stat()).size;
    const length = ref.length ?? expectedLength ?? size - ref.offset;
    if (ref.offset + length > size) {
      throw new ExternalDataError(
        `tensor "${t.name}": external data file "${ref.location}" is truncated (the tensor needs bytes ${ref.offset}..${ref.offset + length}, the file has ${size}). Re-export or re-copy the model.`,
      );
    }
    return { path, ref, offset: ref.offset, length, handle };
  } catch (e) {
    await handle.close();
    throw e;
  }
}

/** Read `length` bytes at `position` with fs.read, looping over short reads. */
export async function readRange(handle: FileHandle, into: Uint8Array, length: number, position: number, what = 'file'): Promise<void> {
  let done = 0;
  while (done < length) {
    const { bytesRead } = await handle.read(into, done, length - done, position + done);
    if (bytesRead === 0) throw new ExternalDataError(`unexpected end of ${what} at byte ${position + done}`);
    done += bytesRead;
  }
}

/** Read exactly one tensor's bytes from its external data file (only that range is read). */
export async function readExternalBytes(t: TensorProto, baseDir: string, expectedLength?: number): Promise<Uint8Array> {
  const r = await openExternalRange(t, baseDir, expectedLength);
  try {
    const buf = new Uint8Array(r.length);
    await readRange(r.handle, buf, r.length, r.offset, `${r.path} (tensor "${t.name}")`);
    return buf;
  } finally {
    await r.handle.close();
  }
}
