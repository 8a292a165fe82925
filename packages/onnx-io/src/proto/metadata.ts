/**
 * A model's metadata_props without decoding its graph: walk the top-level ModelProto fields of the
 * file, reading only field 14 (StringStringEntryProto) and seeking past everything else. For a
 * 2 GB inline model this reads a few hundred bytes.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

const METADATA_PROPS = 14;

/** The model's metadata_props as a map; empty when the file is not a readable model (its loader reports that). */
export function readModelMetadata(path: string): Map<string, string> {
  const out = new Map<string, string>();
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return out;
  }
  try {
    const size = fstatSync(fd).size;
    const small = Buffer.alloc(10);
    let pos = 0;
    const varint = (): number | undefined => {
      const n = readSync(fd, small, 0, 10, pos);
      let v = 0;
      for (let i = 0; i < n; i++) {
        v += (small[i]! & 0x7f) * 2 ** (7 * i);
        if ((small[i]! & 0x80) === 0) {
          pos += i + 1;
          return v;
        }
      }
      return undefined;
    };
    while (pos < size) {
      const key = varint();
      if (key === undefined) break;
      const field = Math.floor(key / 8);
      const wire = key % 8;
      if (wire === 0) {
        if (varint() === undefined) break;
      } else if (wire === 2) {
        const len = varint();
        if (len === undefined || pos + len > size) break;
        if (field === METADATA_PROPS && len <= 16 * 1024 * 1024) {
          const entry = Buffer.alloc(len);
          readSync(fd, entry, 0, len, pos);
          const kv = decodeEntry(entry);
          if (kv) out.set(kv[0], kv[1]);
        }
        pos += len;
      } else if (wire === 1) pos += 8;
      else if (wire === 5) pos += 4;
      else break; // not a model file: stop, the real loader reports it
    }
  } finally {
    closeSync(fd);
  }
  return out;
}

/** StringStringEntryProto: key = 1, value = 2 (both strings). */
function decodeEntry(b: Buffer): [string, string] | undefined {
  let pos = 0;
  let key = '';
  let value = '';
  while (pos < b.length) {
    const tag = b[pos++]!;
    if (tag % 8 !== 2) return undefined;
    let len = 0;
    for (let shift = 0; pos < b.length; shift += 7) {
      const byte = b[pos++]!;
      len += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) break;
    }
    const s = b.subarray(pos, pos + len).toString('utf8');
    pos += len;
    if (tag >> 3 === 1) key = s;
    else if (tag >> 3 === 2) value = s;
  }
  return [key, value];
}
