/**
 * Parts of a model file read without decoding its graph: walk the ModelProto's fields, reading only
 * the ones asked for and seeking past everything else. For a 2 GB inline model this reads a few
 * hundred bytes (metadata_props) or the graph's field headers (its output names).
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

const MODEL_GRAPH = 7;
const METADATA_PROPS = 14;
const GRAPH_OUTPUT = 12;

/** Bytes [pos, pos + len) of the model (fewer at its end). */
type ReadAt = (pos: number, len: number) => Buffer;

/**
 * Visit the length-delimited fields in [start, end): `visit(field, pos, len)`. Stops quietly at anything
 * malformed: the real loader reports that.
 */
function walkFields(read: ReadAt, start: number, end: number, visit: (field: number, pos: number, len: number) => void): void {
  let pos = start;
  const varint = (): number | undefined => {
    const small = read(pos, 10);
    let v = 0;
    for (let i = 0; i < small.length; i++) {
      v += (small[i]! & 0x7f) * 2 ** (7 * i);
      if ((small[i]! & 0x80) === 0) {
        pos += i + 1;
        return v;
      }
    }
    return undefined;
  };
  while (pos < end) {
    const key = varint();
    if (key === undefined) return;
    const wire = key % 8;
    if (wire === 0) {
      if (varint() === undefined) return;
    } else if (wire === 2) {
      const len = varint();
      if (len === undefined || pos + len > end) return;
      visit(Math.floor(key / 8), pos, len);
      pos += len;
    } else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else return; // not a model file
  }
}

/** Run `f` with a reader over the file, or over the bytes of a model held in memory; undefined when the file cannot be opened. */
function withModel<T>(source: string | Uint8Array, f: (read: ReadAt, size: number) => T): T | undefined {
  if (typeof source !== 'string') {
    const b = Buffer.from(source.buffer, source.byteOffset, source.byteLength);
    return f((pos, len) => b.subarray(pos, Math.min(pos + len, b.length)), b.length);
  }
  let fd: number;
  try {
    fd = openSync(source, 'r');
  } catch {
    return undefined;
  }
  try {
    const read: ReadAt = (pos, len) => {
      const b = Buffer.alloc(len);
      return b.subarray(0, readSync(fd, b, 0, len, pos));
    };
    return f(read, fstatSync(fd).size);
  } finally {
    closeSync(fd);
  }
}

/** The model's metadata_props as a map; empty when the file is not a readable model (its loader reports that). */
export function readModelMetadata(path: string): Map<string, string> {
  const out = new Map<string, string>();
  withModel(path, (read, size) =>
    walkFields(read, 0, size, (field, pos, len) => {
      if (field !== METADATA_PROPS || len > 16 * 1024 * 1024) return;
      const kv = decodeEntry(read(pos, len));
      if (kv) out.set(kv[0], kv[1]);
    }),
  );
  return out;
}

/**
 * The names of the graph's outputs, in order (GraphProto.output, ValueInfoProto.name), without decoding
 * the nodes or initializers; empty when the file is not a readable model. Sessions that must name outputs
 * before ORT has loaded the model (preferred output locations) read them here.
 */
export function readGraphOutputNames(source: string | Uint8Array): string[] {
  const names: string[] = [];
  withModel(source, (read, size) =>
    walkFields(read, 0, size, (field, pos, len) => {
      if (field !== MODEL_GRAPH) return;
      walkFields(read, pos, pos + len, (gField, gPos, gLen) => {
        if (gField !== GRAPH_OUTPUT) return;
        const info = read(gPos, gLen);
        walkFields((p, l) => info.subarray(p, p + l), 0, info.length, (vField, vPos, vLen) => {
          if (vField === 1) names.push(info.subarray(vPos, vPos + vLen).toString('utf8'));
        });
      });
    }),
  );
  return names;
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
