/**
 * safetensors reading: the header (8-byte little-endian length + JSON), then single tensors read by
 * offset, so a checkpoint is never loaded whole. Sharded checkpoints are found through
 * model.safetensors.index.json (its weight_map names the shard of each tensor).
 */
import { existsSync, readFileSync } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { categorisedError, bfloat16ToFloat32, dimsProblem, float16ToFloat32, rangesProblem, type ClaimedRange } from '@llm-bip/onnx-io';
import { HfCheckpointError } from './config.js';

export type SafetensorsDtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

export const SAFETENSORS_DTYPE_BYTES: Record<SafetensorsDtype, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1,
};

export class SafetensorsError extends categorisedError('SafetensorsError', 'input') {}

export interface SafetensorsEntry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** the file holding it */
  file: string;
  /** absolute byte offset of its data in `file` */
  offset: number;
  byteLength: number;
}

const READ_CHUNK = 256 * 1024 * 1024;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A short description of an unexpected JSON value for a message. */
function describe(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
}

/** Header limit: real headers are a few MB; anything larger is a corrupt length field. */
const MAX_HEADER = 512 * 1024 * 1024;

/** Parse one .safetensors file's header and check every entry lies inside the file. */
export async function readSafetensorsHeader(file: string): Promise<{ entries: SafetensorsEntry[]; metadata: Record<string, string> }> {
  let size: number;
  try {
    size = (await stat(file)).size;
  } catch {
    throw new SafetensorsError(`${file} not found`);
  }
  if (size < 8) throw new SafetensorsError(`${file} is ${size} bytes: too short for a safetensors header (truncated download?)`);
  const fh = await open(file, 'r');
  try {
    const lenBuf = Buffer.alloc(8);
    await fh.read(lenBuf, 0, 8, 0);
    const headerLen = Number(lenBuf.readBigUInt64LE(0));
    if (headerLen > MAX_HEADER || 8 + headerLen > size) {
      throw new SafetensorsError(`${file}: header claims ${headerLen} bytes but the file has ${size}: the file is truncated or not safetensors`);
    }
    const hbuf = Buffer.alloc(headerLen);
    await fh.read(hbuf, 0, headerLen, 8);
    let header: unknown;
    try {
      header = JSON.parse(hbuf.toString('utf8'));
    } catch (e) {
      throw new SafetensorsError(`${file}: header is not valid JSON (${(e as Error).message}); the file is corrupt`);
    }
    if (!isObject(header)) throw new SafetensorsError(`${file}: header is ${describe(header)}, not a JSON object; the file is corrupt`);
    const dataStart = 8 + headerLen;
    const entries: SafetensorsEntry[] = [];
    const ranges: ClaimedRange[] = [];
    let metadata: Record<string, string> = {};
    for (const [name, v] of Object.entries(header)) {
      const corrupt = (problem: string) => new SafetensorsError(`${file}: tensor "${name}" ${problem}; the file is corrupt (re-download it)`);
      if (name === '__metadata__') {
        if (v !== null && (!isObject(v) || Object.values(v).some((x) => typeof x !== 'string'))) {
          throw new SafetensorsError(`${file}: __metadata__ must be an object of strings; the file is corrupt (re-download it)`);
        }
        metadata = (v ?? {}) as Record<string, string>;
        continue;
      }
      if (!isObject(v)) throw corrupt(`has header entry ${describe(v)}, not an object with dtype, shape and data_offsets`);
      const dtype = v.dtype as SafetensorsDtype;
      const width = typeof v.dtype === 'string' && Object.hasOwn(SAFETENSORS_DTYPE_BYTES, v.dtype) ? SAFETENSORS_DTYPE_BYTES[dtype] : undefined;
      if (width === undefined) throw new SafetensorsError(`${file}: tensor "${name}" has unsupported dtype ${JSON.stringify(v.dtype)}`);
      if (!Array.isArray(v.shape)) throw corrupt(`has shape ${describe(v.shape)}, not a list of dimensions`);
      const offsets = v.data_offsets;
      if (!Array.isArray(offsets) || offsets.length !== 2) throw corrupt(`has data_offsets ${describe(offsets)}, not [begin, end]`);
      const [begin, end] = offsets as [number, number];
      const badDims = dimsProblem(v.shape);
      if (badDims) throw corrupt(badDims);
      const expected = (v.shape as number[]).reduce((x, y) => x * y, 1) * width;
      if (!(Number.isSafeInteger(begin) && Number.isSafeInteger(end) && end - begin === expected)) {
        throw new SafetensorsError(
          `${file}: tensor "${name}" (${dtype} [${v.shape}]) has data_offsets [${begin}, ${end}] spanning ${end - begin} bytes, expected ${expected}: dtype/shape do not match the data`,
        );
      }
      if (dataStart + end > size) {
        throw new SafetensorsError(
          `${file}: tensor "${name}" ends at byte ${dataStart + end} but the file has ${size} bytes: the file is truncated (re-download it)`,
        );
      }
      ranges.push({ name, begin, end });
      entries.push({ name, dtype, shape: v.shape as number[], file, offset: dataStart + begin, byteLength: expected });
    }
    const bad = rangesProblem(ranges, size - dataStart);
    if (bad) throw new SafetensorsError(`${file}: tensor ${bad} of the data section; the file is corrupt or truncated (re-download it)`);
    return { entries, metadata };
  } finally {
    await fh.close();
  }
}

/**
 * A HF checkpoint's tensors (one file or shards). Keeps one read handle per shard; call close().
 */
export class SafetensorsCheckpoint {
  private readonly handles = new Map<string, FileHandle>();

  private constructor(readonly entries: Map<string, SafetensorsEntry>) {}

  /** Open `<dir>/model.safetensors`, or the shards listed by `<dir>/model.safetensors.index.json`. */
  static async open(dir: string): Promise<SafetensorsCheckpoint> {
    const single = join(dir, 'model.safetensors');
    const index = join(dir, 'model.safetensors.index.json');
    let files: string[];
    if (existsSync(single)) {
      files = [single];
    } else if (existsSync(index)) {
      let weightMap: Record<string, string>;
      try {
        weightMap = (JSON.parse(readFileSync(index, 'utf8')) as { weight_map?: Record<string, string> }).weight_map ?? {};
      } catch (e) {
        throw new SafetensorsError(`${index} is not valid JSON (${(e as Error).message})`);
      }
      const shards = [...new Set(Object.values(weightMap))];
      if (shards.length === 0) throw new SafetensorsError(`${index} has an empty weight_map`);
      for (const s of shards) {
        if (basename(s) !== s) throw new SafetensorsError(`${index}: shard name ${JSON.stringify(s)} must be a plain file name in the model folder`);
        if (!existsSync(join(dir, s))) throw new SafetensorsError(`${index} lists shard ${s}, which is missing from ${dir}`);
      }
      files = shards.map((s) => join(dir, s));
    } else {
      throw new HfCheckpointError(`${dir} has neither model.safetensors nor model.safetensors.index.json (PyTorch .bin checkpoints are not supported: convert them to safetensors)`);
    }
    const entries = new Map<string, SafetensorsEntry>();
    for (const f of files) {
      for (const e of (await readSafetensorsHeader(f)).entries) {
        if (entries.has(e.name)) throw new SafetensorsError(`tensor "${e.name}" appears in two shards (${entries.get(e.name)!.file} and ${f})`);
        entries.set(e.name, e);
      }
    }
    return new SafetensorsCheckpoint(entries);
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  entry(name: string): SafetensorsEntry {
    const e = this.entries.get(name);
    if (!e) throw new SafetensorsError(`tensor "${name}" is not in the checkpoint (it has ${this.entries.size} tensors)`);
    return e;
  }

  /** Raw little-endian bytes of one tensor, read by offset. */
  async readBytes(name: string): Promise<Uint8Array> {
    return this.readByteRange(name, 0, new Uint8Array(this.entry(name).byteLength));
  }

  /** `into.length` raw bytes of one tensor from byte `start` of its data (part of a large tensor). */
  async readByteRange(name: string, start: number, into: Uint8Array): Promise<Uint8Array> {
    const e = this.entry(name);
    if (!(Number.isInteger(start) && start >= 0 && start + into.length <= e.byteLength)) {
      throw new RangeError(`tensor "${name}": bytes [${start}, ${start + into.length}) are outside its ${e.byteLength} bytes`);
    }
    let fh = this.handles.get(e.file);
    if (!fh) {
      fh = await open(e.file, 'r');
      this.handles.set(e.file, fh);
    }
    let done = 0;
    while (done < into.length) {
      // one read call is capped below 2 GiB by Node; embeddings of large-vocab models exceed that in fp32
      const { bytesRead } = await fh.read(into, done, Math.min(READ_CHUNK, into.length - done), e.offset + start + done);
      if (bytesRead === 0) throw new SafetensorsError(`${e.file}: unexpected end of file reading "${name}" (truncated?)`);
      done += bytesRead;
    }
    return into;
  }

  /** One floating tensor (F32, F16 or BF16) as float32, checked against an expected shape when given. */
  async readFloat32(name: string, expectShape?: number[]): Promise<Float32Array> {
    const e = this.entry(name);
    if (expectShape && (expectShape.length !== e.shape.length || expectShape.some((d, i) => d !== e.shape[i]))) {
      throw new SafetensorsError(`tensor "${name}" has shape [${e.shape}], expected [${expectShape}] from config.json`);
    }
    const bytes = await this.readBytes(name);
    const buf = bytes.buffer as ArrayBuffer;
    switch (e.dtype) {
      case 'F32':
        return new Float32Array(buf);
      case 'F16':
        return float16ToFloat32(new Uint16Array(buf));
      case 'BF16':
        return bfloat16ToFloat32(new Uint16Array(buf));
      case 'F64':
        return Float32Array.from(new Float64Array(buf));
      default:
        throw new SafetensorsError(`tensor "${name}" is ${e.dtype}, expected a floating type (F32, F16, BF16)`);
    }
  }

  async close(): Promise<void> {
    const hs = [...this.handles.values()];
    this.handles.clear();
    await Promise.all(hs.map((h) => h.close()));
  }
}
