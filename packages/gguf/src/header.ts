/** Encoding of the GGUF header: magic, counts, metadata and tensor infos (format.ts has the layout). */
import { GgufError } from './errors.js';
import { ALIGNMENT_KEY, GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GGUF_VERSION, GgufValueType, SCALAR_SIZE, alignUp } from './format.js';
import { tensorBytes, type GgmlTypeCode } from './tensor-types.js';
import { SCALAR_CODE, valueProblem, type GgufMetadata, type GgufScalarType, type GgufValue } from './values.js';

export interface GgufTensorInfo {
  name: string;
  /** row-major shape (PyTorch order); the file stores it reversed as ggml's ne */
  shape: readonly number[];
  type: GgmlTypeCode;
}

export interface PlacedTensor extends GgufTensorInfo {
  /** offset inside the data section */
  offset: number;
  byteLength: number;
}

export interface EncodedHeader {
  bytes: Uint8Array;
  alignment: number;
  /** where the data section starts in the file (the header padded to the alignment) */
  dataStart: number;
  tensors: PlacedTensor[];
  /** file size: data start + every tensor padded to the alignment */
  fileSize: number;
}

/** The alignment the metadata declares (general.alignment), else GGUF's default. */
export function alignmentOf(metadata: GgufMetadata): number {
  const entry = metadata.find(([k]) => k === ALIGNMENT_KEY);
  if (!entry) return GGUF_DEFAULT_ALIGNMENT;
  const v = entry[1];
  if (v.type !== 'u32' || v.value <= 0 || v.value % 8 !== 0) throw new GgufError(`${ALIGNMENT_KEY} must be a u32 multiple of 8, got ${JSON.stringify(v)}`);
  return v.value;
}

/** Lay out the tensors (in order, each padded to the alignment) and encode the header. */
export function encodeHeader(metadata: GgufMetadata, tensors: readonly GgufTensorInfo[]): EncodedHeader {
  const alignment = alignmentOf(metadata);
  const keys = new Set<string>();
  for (const [key] of metadata) {
    if (keys.has(key)) throw new GgufError(`metadata key "${key}" given twice`);
    keys.add(key);
  }
  const names = new Set<string>();
  const placed: PlacedTensor[] = [];
  let offset = 0;
  for (const t of tensors) {
    if (names.has(t.name)) throw new GgufError(`tensor "${t.name}" given twice`);
    names.add(t.name);
    if (Buffer.byteLength(t.name, 'utf8') > 63) throw new GgufError(`tensor name "${t.name}" is over ggml's 63-byte limit`);
    if (t.shape.length < 1 || t.shape.length > 4 || t.shape.some((d) => !Number.isSafeInteger(d) || d < 1)) {
      throw new GgufError(`tensor "${t.name}": shape [${t.shape.join(', ')}] must have 1 to 4 positive dimensions`);
    }
    const byteLength = tensorBytes(t.type, t.shape);
    placed.push({ ...t, offset, byteLength });
    offset += alignUp(byteLength, alignment);
  }

  const w = new ByteWriter();
  w.u32(GGUF_MAGIC);
  w.u32(GGUF_VERSION);
  w.u64(tensors.length);
  w.u64(metadata.length);
  for (const [key, value] of metadata) {
    w.string(key);
    writeValue(w, key, value);
  }
  for (const t of placed) {
    w.string(t.name);
    w.u32(t.shape.length);
    for (const d of [...t.shape].reverse()) w.u64(d);
    w.u32(t.type);
    w.u64(t.offset);
  }
  const bytes = w.finish();
  const dataStart = alignUp(bytes.length, alignment);
  return { bytes, alignment, dataStart, tensors: placed, fileSize: dataStart + offset };
}

function writeValue(w: ByteWriter, key: string, v: GgufValue): void {
  if (v.type === 'array') {
    w.u32(GgufValueType.ARRAY);
    w.u32(SCALAR_CODE[v.of]);
    w.u64(v.value.length);
    for (const item of v.value) writeScalar(w, key, v.of, item);
    return;
  }
  w.u32(SCALAR_CODE[v.type]);
  writeScalar(w, key, v.type, v.value);
}

function writeScalar(w: ByteWriter, key: string, type: GgufScalarType, v: number | boolean | string): void {
  const problem = valueProblem(type, v);
  if (problem) throw new GgufError(`metadata "${key}": ${problem}`);
  switch (type) {
    case 'string':
      return w.string(v as string);
    case 'bool':
      return w.u8(v ? 1 : 0);
    default:
      return w.number(type, v as number);
  }
}

/** Growable little-endian byte buffer. */
class ByteWriter {
  private buf = new Uint8Array(1 << 16);
  private view = new DataView(this.buf.buffer);
  private pos = 0;

  private reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.pos + n));
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u8(v: number): void {
    this.reserve(1);
    this.view.setUint8(this.pos, v);
    this.pos += 1;
  }

  u32(v: number): void {
    this.reserve(4);
    this.view.setUint32(this.pos, v, true);
    this.pos += 4;
  }

  u64(v: number): void {
    this.reserve(8);
    this.view.setBigUint64(this.pos, BigInt(v), true);
    this.pos += 8;
  }

  number(type: Exclude<GgufScalarType, 'string' | 'bool'>, v: number): void {
    const size = SCALAR_SIZE[SCALAR_CODE[type]]!;
    this.reserve(size);
    const p = this.pos;
    switch (type) {
      case 'u8': this.view.setUint8(p, v); break;
      case 'i8': this.view.setInt8(p, v); break;
      case 'u16': this.view.setUint16(p, v, true); break;
      case 'i16': this.view.setInt16(p, v, true); break;
      case 'u32': this.view.setUint32(p, v, true); break;
      case 'i32': this.view.setInt32(p, v, true); break;
      case 'f32': this.view.setFloat32(p, v, true); break;
      case 'u64': this.view.setBigUint64(p, BigInt(v), true); break;
      case 'i64': this.view.setBigInt64(p, BigInt(v), true); break;
      case 'f64': this.view.setFloat64(p, v, true); break;
    }
    this.pos += size;
  }

  string(s: string): void {
    const bytes = Buffer.from(s, 'utf8');
    this.u64(bytes.length);
    this.reserve(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }
}
