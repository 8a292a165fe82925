import { realpathSync } from 'node:fs';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import type { TensorProto } from '../proto/types.js';
import { toNumber } from '../proto/types.js';

export class UnsafeExternalDataError extends Error {
  override name = 'UnsafeExternalDataError';
}

export interface ExternalDataRef {
  location: string;
  offset: number;
  /** byte length, or undefined = to the end of the file */
  length: number | undefined;
}

export function isExternal(t: TensorProto): boolean {
  return t.dataLocation === 1 || (t.externalData?.length ?? 0) > 0;
}

export function externalDataRef(t: TensorProto): ExternalDataRef {
  const get = (k: string) => t.externalData?.find((e) => e.key === k)?.value ?? undefined;
  const location = get('location');
  if (!location) throw new UnsafeExternalDataError(`tensor "${t.name}" is marked external but has no "location" entry`);
  const offset = get('offset');
  const length = get('length');
  return {
    location,
    offset: offset ? Number(offset) : 0,
    length: length !== undefined ? Number(length) : undefined,
  };
}

/**
 * Resolve an external-data location against the model's folder. Absolute paths, `..` components and
 * symlinks that lead outside the folder are rejected: a crafted model could otherwise read any file.
 */
export function resolveExternalLocation(baseDir: string, location: string, tensorName = '?'): string {
  const bad = (why: string) =>
    new UnsafeExternalDataError(
      `tensor "${tensorName}": external data location "${location}" ${why}; ONNX external data must be a relative path inside the model's folder. Refusing to read it.`,
    );
  if (isAbsolute(location) || /^[a-zA-Z]:[\\/]/.test(location)) throw bad('is an absolute path');
  if (location.split(/[\\/]/).includes('..')) throw bad('contains ".."');
  const base = resolve(baseDir);
  const full = resolve(base, location);
  let real = full;
  let realBase = base;
  try {
    realBase = realpathSync(base);
    real = realpathSync(full);
  } catch {
    return full; // missing file: the reader reports it with its own message
  }
  const rel = relative(realBase, real);
  if (rel.startsWith('..' + sep) || rel === '..' || isAbsolute(rel)) throw bad('resolves (through a symbolic link) outside the model folder');
  return full;
}

export { toNumber };
