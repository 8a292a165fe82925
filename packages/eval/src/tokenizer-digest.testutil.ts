/** Count, sha256 (ids as int32 little-endian) and ends of a token id sequence: what the Python references hold. */
import { createHash } from 'node:crypto';

export interface Digest {
  count: number;
  sha256_int32le: string;
  first: number[];
  last: number[];
}

export function digestOf(ids: readonly number[]): Digest {
  const bytes = new Uint8Array(Int32Array.from(ids).buffer); // little-endian on every platform Node runs on
  return { count: ids.length, sha256_int32le: createHash('sha256').update(bytes).digest('hex'), first: ids.slice(0, 64), last: ids.slice(-64) };
}
