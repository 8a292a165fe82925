/**
 * Reading a GGUF file's header (metadata and tensor infos) and single tensors by offset, for tests and
 * inspection. Every count and length is checked against the bytes that are actually there before
 * anything is sized from it, so a corrupt or hostile file is an error naming the field, not a crash.
 */
import { open } from 'node:fs/promises';
import { GgufError } from './errors.js';
import { ALIGNMENT_KEY, GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GgufValueType, SCALAR_SIZE, alignUp, type GgufValueTypeCode } from './format.js';
import { decodeValues, ggmlTypeName, isKnownGgmlType, tensorBytes, type GgmlTypeCode } from './tensor-types.js';
import { scalarOfCode, type GgufValue } from './values.js';

/** Headers beyond this are refused (the largest vocabularies make a few MiB). */
export const MAX_HEADER_BYTES = 256 * 1024 * 1024;

export interface GgufTensorEntry {
  name: string;
  /** row-major shape (ggml's ne reversed) */
  shape: number[];
  /** ggml type code (types this package cannot decode are listed too) */
  type: number;
  /** absolute offset in the file */
  offset: number;
  /** bytes, for the types this package knows; undefined otherwise */
  byteLength: number | undefined;
}

export interface GgufFile {
  path: string;
  version: number;
  alignment: number;
  metadata: Map<string, GgufValue>;
  tensors: GgufTensorEntry[];
  dataStart: number;
  fileSize: number;
}

export async function readGgufHeader(path: string): Promise<GgufFile> {
  const handle = await open(path, 'r');
  try {
    const fileSize = (await handle.stat()).size;
    const length = Math.min(fileSize, MAX_HEADER_BYTES);
    const buf = new Uint8Array(length);
    for (let done = 0; done < length; ) {
      const { bytesRead } = await handle.read(buf, done, length - done, done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return parseHeader(path, buf, fileSize);
  } finally {
    await handle.close();
  }
}

function parseHeader(path: string, buf: Uint8Array, fileSize: number): GgufFile {
  const r = new Cursor(path, buf, fileSize);
  const magic = r.u32('magic');
  if (magic !== GGUF_MAGIC) throw new GgufError(`${path} is not a GGUF file (no "GGUF" magic at the start)`);
  const version = r.u32('version');
  if (version !== 2 && version !== 3) throw new GgufError(`${path}: GGUF version ${version} is not supported (2 and 3 are)`);
  const tensorCount = r.count('tensor count', 8 + 4 + 8 + 4 + 8);
  const kvCount = r.count('metadata count', 8 + 4);
  const metadata = new Map<string, GgufValue>();
  for (let i = 0; i < kvCount; i++) {
    const key = r.string(`metadata key #${i}`);
    if (metadata.has(key)) throw new GgufError(`${path}: metadata key "${key}" appears twice`);
    metadata.set(key, r.value(key));
  }
  let alignment = GGUF_DEFAULT_ALIGNMENT;
  const a = metadata.get(ALIGNMENT_KEY);
  if (a) {
    if (a.type !== 'u32' || a.value <= 0 || a.value % 8 !== 0) throw new GgufError(`${path}: ${ALIGNMENT_KEY} must be a u32 multiple of 8`);
    alignment = a.value;
  }
  const infos: Array<{ name: string; shape: number[]; type: number; rel: number }> = [];
  for (let i = 0; i < tensorCount; i++) {
    const name = r.string(`tensor #${i} name`);
    const nDims = r.u32(`tensor "${name}" n_dims`);
    if (nDims < 1 || nDims > 4) throw new GgufError(`${path}: tensor "${name}" has ${nDims} dimensions (1 to 4 allowed)`);
    const ne: number[] = [];
    for (let d = 0; d < nDims; d++) ne.push(r.u64(`tensor "${name}" dim ${d}`));
    const type = r.u32(`tensor "${name}" type`);
    const rel = r.u64(`tensor "${name}" offset`);
    infos.push({ name, shape: ne.reverse(), type, rel });
  }
  const dataStart = alignUp(r.position, alignment);
  const tensors = infos.map((t) => {
    const byteLength = isKnownGgmlType(t.type) ? tensorBytes(t.type, t.shape) : undefined;
    const offset = dataStart + t.rel;
    if (t.rel % alignment !== 0) throw new GgufError(`${path}: tensor "${t.name}" offset ${t.rel} is not a multiple of the alignment ${alignment}`);
    if (byteLength !== undefined && offset + byteLength > fileSize) {
      throw new GgufError(`${path}: tensor "${t.name}" needs bytes ${offset}..${offset + byteLength} but the file has ${fileSize}: it is truncated`);
    }
    return { name: t.name, shape: t.shape, type: t.type, offset, byteLength };
  });
  return { path, version, alignment, metadata, tensors, dataStart, fileSize };
}

/** One tensor's bytes. */
export async function readGgufTensorBytes(file: GgufFile, name: string): Promise<Uint8Array> {
  const t = file.tensors.find((x) => x.name === name);
  if (!t) throw new GgufError(`${file.path} has no tensor "${name}"`);
  if (t.byteLength === undefined) throw new GgufError(`${file.path}: tensor "${name}" is ${ggmlTypeName(t.type)}, which this reader does not decode`);
  const handle = await open(file.path, 'r');
  try {
    const out = new Uint8Array(t.byteLength);
    const { bytesRead } = await handle.read(out, 0, t.byteLength, t.offset);
    if (bytesRead !== t.byteLength) throw new GgufError(`${file.path}: tensor "${name}" is truncated`);
    return out;
  } finally {
    await handle.close();
  }
}

/** One tensor's values as float32 (dequantized for Q8_0). */
export async function readGgufTensor(file: GgufFile, name: string): Promise<Float32Array> {
  const bytes = await readGgufTensorBytes(file, name);
  const t = file.tensors.find((x) => x.name === name)!;
  return decodeValues(bytes, t.type as GgmlTypeCode, t.shape.reduce((a, b) => a * b, 1));
}

class Cursor {
  position = 0;
  private readonly view: DataView;

  constructor(
    private readonly path: string,
    private readonly buf: Uint8Array,
    private readonly fileSize: number,
  ) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  private need(n: number, what: string): void {
    if (this.position + n <= this.buf.length) return;
    if (this.buf.length < this.fileSize) throw new GgufError(`${this.path}: the header is over ${MAX_HEADER_BYTES} bytes (at ${what}); the file is corrupt or not a model`);
    throw new GgufError(`${this.path}: the file ends inside its header (at ${what}): it is truncated`);
  }

  get remaining(): number {
    return this.buf.length - this.position;
  }

  u8(what: string): number {
    this.need(1, what);
    return this.view.getUint8(this.position++);
  }

  u32(what: string): number {
    this.need(4, what);
    const v = this.view.getUint32(this.position, true);
    this.position += 4;
    return v;
  }

  u64(what: string): number {
    this.need(8, what);
    const v = this.view.getBigUint64(this.position, true);
    this.position += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new GgufError(`${this.path}: ${what} is ${v}, beyond any real file`);
    return Number(v);
  }

  /** A u64 count of items of at least `minItemBytes` each: more than the bytes left can hold is corrupt. */
  count(what: string, minItemBytes: number): number {
    const n = this.u64(what);
    if (n * minItemBytes > this.fileSize) throw new GgufError(`${this.path}: ${what} ${n} cannot fit in a ${this.fileSize}-byte file: it is corrupt`);
    return n;
  }

  string(what: string): string {
    const n = this.u64(`${what} length`);
    this.need(n, what);
    const s = Buffer.from(this.buf.buffer, this.buf.byteOffset + this.position, n).toString('utf8');
    this.position += n;
    return s;
  }

  value(key: string): GgufValue {
    const code = this.u32(`"${key}" type`);
    if (code === GgufValueType.ARRAY) {
      const of = this.u32(`"${key}" array type`);
      const scalar = scalarOfCode(of);
      if (!scalar || of === GgufValueType.ARRAY) throw new GgufError(`${this.path}: metadata "${key}" is an array of unknown type ${of}`);
      const n = this.count(`"${key}" array length`, SCALAR_SIZE[of as GgufValueTypeCode] ?? 8);
      if (scalar === 'string') {
        const value: string[] = [];
        for (let i = 0; i < n; i++) value.push(this.string(`"${key}"[${i}]`));
        return { type: 'array', of: 'string', value };
      }
      if (scalar === 'bool') {
        const value: boolean[] = [];
        for (let i = 0; i < n; i++) value.push(this.u8(`"${key}"[${i}]`) !== 0);
        return { type: 'array', of: 'bool', value };
      }
      const value: number[] = [];
      for (let i = 0; i < n; i++) value.push(this.number(scalar, `"${key}"[${i}]`));
      return { type: 'array', of: scalar, value };
    }
    const scalar = scalarOfCode(code);
    if (!scalar) throw new GgufError(`${this.path}: metadata "${key}" has unknown type ${code}`);
    if (scalar === 'string') return { type: 'string', value: this.string(`"${key}"`) };
    if (scalar === 'bool') return { type: 'bool', value: this.u8(`"${key}"`) !== 0 };
    return { type: scalar, value: this.number(scalar, `"${key}"`) };
  }

  private number(type: Exclude<ReturnType<typeof scalarOfCode>, undefined | 'string' | 'bool'>, what: string): number {
    if (type === 'u64') return this.u64(what);
    const size = { u8: 1, i8: 1, u16: 2, i16: 2, u32: 4, i32: 4, f32: 4, i64: 8, f64: 8 }[type];
    this.need(size, what);
    const p = this.position;
    this.position += size;
    switch (type) {
      case 'u8': return this.view.getUint8(p);
      case 'i8': return this.view.getInt8(p);
      case 'u16': return this.view.getUint16(p, true);
      case 'i16': return this.view.getInt16(p, true);
      case 'u32': return this.view.getUint32(p, true);
      case 'i32': return this.view.getInt32(p, true);
      case 'f32': return this.view.getFloat32(p, true);
      case 'i64': return Number(this.view.getBigInt64(p, true));
      case 'f64': return this.view.getFloat64(p, true);
    }
  }
}
