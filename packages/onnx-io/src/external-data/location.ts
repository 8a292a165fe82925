import { realpathSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import type { StringStringEntry, TensorProto } from '../proto/types.js';
import { toNumber } from '../proto/types.js';
import { categorisedError } from '../errors.js';

export class UnsafeExternalDataError extends categorisedError('UnsafeExternalDataError', 'input') {}

/** Where one tensor's bytes live outside the model file (TensorProto.external_data, parsed). */
export interface ExternalDataRef {
  location: string;
  offset: number;
  /** byte length, or undefined = to the end of the file */
  length: number | undefined;
}

/** data_location = EXTERNAL (1). */
export const DATA_LOCATION_EXTERNAL = 1;

export function isExternal(t: TensorProto): boolean {
  return t.dataLocation === DATA_LOCATION_EXTERNAL || (t.externalData?.length ?? 0) > 0;
}

/** Parse a tensor's external_data entries; malformed offsets/lengths are errors, not NaN. */
export function externalDataRef(t: TensorProto): ExternalDataRef {
  const get = (k: string) => t.externalData?.find((e) => e.key === k)?.value ?? undefined;
  const location = get('location');
  if (!location) throw new UnsafeExternalDataError(`tensor "${t.name}" is marked external but has no "location" entry`);
  const int = (key: string, v: string | undefined): number | undefined => {
    if (v === undefined) return undefined;
    if (!/^\d+$/.test(v) || !Number.isSafeInteger(Number(v))) {
      throw new UnsafeExternalDataError(`tensor "${t.name}": external data ${key} "${v}" is not a non-negative integer`);
    }
    return Number(v);
  };
  return { location, offset: int('offset', get('offset')) ?? 0, length: int('length', get('length')) };
}

/** The external_data entries for a tensor stored at [offset, offset + length) of `location`. */
export function externalDataEntries(ref: { location: string; offset: number; length: number }): StringStringEntry[] {
  return [
    { key: 'location', value: ref.location },
    { key: 'offset', value: String(ref.offset) },
    { key: 'length', value: String(ref.length) },
  ];
}

/**
 * Check that a location is a plain relative path (no absolute path, drive letter, `..`, NUL, or empty
 * name). Used for reading (a crafted model could otherwise read any file) and for choosing where to write.
 */
export function checkRelativeLocation(location: string, tensorName = '?'): void {
  const bad = (why: string) =>
    new UnsafeExternalDataError(
      `tensor "${tensorName}": external data location "${location}" ${why}; ONNX external data must be a relative path inside the model's folder. Refusing to use it.`,
    );
  if (location.includes('\0')) throw bad('contains a NUL character');
  if (isAbsolute(location) || /^[a-zA-Z]:/.test(location) || location.startsWith('\\')) throw bad('is an absolute path');
  const parts = location.split(/[\\/]/);
  if (parts.includes('..')) throw bad('contains ".."');
  if (parts.every((p) => p === '' || p === '.')) throw bad('names no file');
}

/**
 * Resolve an external-data location against the model's folder. Absolute paths, `..` components and
 * symlinks that lead outside the folder are rejected.
 */
export function resolveExternalLocation(baseDir: string, location: string, tensorName = '?'): string {
  checkRelativeLocation(location, tensorName);
  const base = resolve(baseDir);
  const full = resolve(base, location);
  let realBase: string;
  try {
    realBase = realpathSync(base);
  } catch {
    return full; // missing folder: the reader reports it with its own message
  }
  // a file not written yet is checked through its nearest existing folder (a symlinked subfolder)
  let existing = full;
  let real: string | undefined;
  while (real === undefined) {
    try {
      real = realpathSync(existing);
    } catch {
      const parent = dirname(existing);
      if (parent === existing) return full;
      existing = parent;
    }
  }
  const rel = relative(realBase, real);
  const inside = existing === full ? rel !== '' : true;
  if (!inside || rel === '..' || rel.startsWith('..' + sep) || isAbsolute(rel)) {
    throw new UnsafeExternalDataError(
      `tensor "${tensorName}": external data location "${location}" resolves (through a symbolic link) to ${real}, outside the model folder ${realBase}. Refusing to use it; copy the data file into the model folder.`,
    );
  }
  return full;
}

export { toNumber };
