/**
 * Model files on disk: load a .onnx (its external data stays on disk, read later by offset) and save
 * one, inline or with weights streamed tensor by tensor into an aligned external data file, optionally
 * transforming each tensor on the way (the exporter and surgery write through here). Saves are atomic
 * and durable: fsynced temp files in the target folder, renamed into place only when everything is written.
 */
import { mkdir, open, readdir, stat, unlink } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { decodeModel, encodeModel } from './proto/codec.js';
import type { ModelProto, TensorProto } from './proto/types.js';
import {
  DATA_LOCATION_EXTERNAL,
  checkRelativeLocation,
  externalDataEntries,
  externalDataRef,
  isExternal,
  resolveExternalLocation,
} from './external-data/location.js';
import { openExternalRange, readRange } from './external-data/read.js';
import { DEFAULT_ALIGNMENT, ExternalDataWriter } from './external-data/writer.js';
import { tensorReadingFrom, tensorWithoutData } from './external-data/files.js';
import { renameDurably, tempPathFor, writeNewFileSynced } from './atomic-file.js';
import { collectTensors, replaceTensors } from './external-data/tensor-slots.js';
import { inlineTensorBytes, tensorByteLength, tensorDataProblem } from './tensor/tensor-data.js';
import { TensorDataError } from './tensor/claims.js';
import { DataType } from './proto/types.js';

/** A model file that cannot be read ('input') or saved ('output'). */
export class ModelFileError extends Error {
  override name = 'ModelFileError';
  constructor(
    message: string,
    readonly category: 'input' | 'output' = 'input',
  ) {
    super(message);
  }
}

export interface LoadedModel {
  model: ModelProto;
  /** absolute path of the .onnx file */
  path: string;
  /** its folder: the base for external data locations (pass it as `sourceDir` when saving) */
  dir: string;
}

/** Protobuf messages cannot exceed 2 GiB; a model file over it is not loadable by any ONNX runtime. */
export const PROTOBUF_LIMIT = 2 ** 31 - 1;

export interface LoadModelOptions {
  /** check that every external tensor's file is safe, present and long enough (default true; no data is read) */
  checkExternalData?: boolean;
}

export async function loadModel(path: string, opts: LoadModelOptions = {}): Promise<LoadedModel> {
  const full = resolve(path);
  let size: number;
  try {
    const st = await stat(full);
    if (st.isDirectory()) {
      const onnx = (await readdir(full)).filter((f) => f.endsWith('.onnx'));
      throw new ModelFileError(
        `${full} is a folder, not a model file: pass the .onnx file inside it` +
          (onnx.length ? ` (found ${onnx.join(', ')})` : ' (it holds no .onnx file)'),
      );
    }
    size = st.size;
  } catch (e) {
    if (e instanceof ModelFileError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ModelFileError(`no model file at ${full}: check the path`);
    throw new ModelFileError(`cannot read ${full} (${code ?? (e as Error).message})`);
  }
  if (size === 0) throw new ModelFileError(`${full} is empty: the export or copy did not finish`);
  if (size > PROTOBUF_LIMIT) {
    throw new ModelFileError(`${full} is ${size} bytes, over protobuf's 2 GiB limit: it is not an ONNX model file (weights that large belong in external data)`);
  }
  const handle = await open(full, 'r');
  const bytes = new Uint8Array(size);
  try {
    await readRange(handle, bytes, size, 0, full);
  } finally {
    await handle.close();
  }
  const model = decodeModel(bytes, full);
  const dir = dirname(full);
  for (const { tensor } of collectTensors(model)) {
    const problem = tensorDataProblem(tensor);
    if (problem) throw new TensorDataError(`${full}: tensor "${tensor.name}" ${problem}. The model file is corrupt: re-export or re-download it.`);
  }
  if (opts.checkExternalData ?? true) {
    for (const { tensor } of collectTensors(model)) {
      if (!isExternal(tensor)) continue;
      const r = await openExternalRange(tensor, dir, expectedLength(tensor));
      await r.handle.close();
    }
  }
  return { model, path: full, dir };
}

export interface SaveModelOptions {
  /** folder the model's existing external data locations are relative to (LoadedModel.dir) */
  sourceDir?: string;
  /** false: everything inline (the file must stay under 2 GiB). Default: external data with the defaults below. */
  externalData?:
    | false
    | {
        /** data file name, relative to the model's folder (default: basename(path) + '.data') */
        location?: string;
        /** initializers with more data bytes than this go external (default 1024) */
        sizeThreshold?: number;
        /** byte alignment of each tensor's offset (default 4096, the page size ORT memory-maps) */
        alignment?: number;
      };
  /**
   * Called once per tensor, in order, before it is written: return new bytes (and dims) to write in its
   * place, or undefined to write it as it is. Only one tensor's bytes are in flight at a time.
   */
  transform?: TensorTransform;
  /** small files written beside the model in the same all-or-nothing step (made once the data file is known) */
  sidecars?: (written: { modelPath: string; dataPath?: string }) => Array<{ path: string; data: string | Uint8Array }>;
  onProgress?: (p: { done: number; total: number; tensor: string }) => void;
}

export interface TensorTransformContext {
  /** a graph initializer (top level or subgraph), as opposed to an attribute value */
  initializer: boolean;
  /** the tensor's current bytes, read from external data or inline; `into` is used when given (exactly its size) */
  read(into?: Uint8Array): Promise<Uint8Array>;
}

export type TensorReplacement = BytesReplacement | StreamedReplacement;

export interface BytesReplacement {
  bytes: Uint8Array;
  /** new dims (default: unchanged) */
  dims?: number[];
  /** `bytes` sit in a buffer the transform reuses: a tensor kept inline gets its own copy */
  reused?: boolean;
}

/**
 * A tensor too large to hold whole (a 7B model's embedding: 1 GB in fp16): its bytes arrive as
 * `chunks`, in order, `byteLength` in all. Each chunk is written before the next is pulled, so the
 * producer may reuse one buffer; memory stays at a chunk.
 */
export interface StreamedReplacement {
  byteLength: number;
  chunks: AsyncIterable<Uint8Array>;
  /** new dims (default: unchanged) */
  dims?: number[];
}

export type TensorTransform = (tensor: TensorProto, ctx: TensorTransformContext) => TensorReplacement | undefined | Promise<TensorReplacement | undefined>;

export interface SaveModelResult {
  /** model file + data file bytes */
  bytesWritten: number;
  tensorsExternal: number;
  /** tensors a `transform` replaced */
  tensorsTransformed: number;
  modelPath: string;
  /** absent when no tensor went external */
  dataPath?: string;
  /** the model as written (tensors point at the new data file) */
  model: ModelProto;
}

/**
 * Save a model: the one streamed model writer. With external data, every initializer over the threshold
 * is streamed into the data file (copied range by range from its current external file, written from
 * its inline bytes, or from what `transform` made of it); the caller's model object is not modified.
 * Data file, model file and sidecars are fsynced temp files renamed into place (data first) only when
 * all of them are written: nothing appears at `path` unless the whole save succeeds.
 */
export async function saveModel(model: ModelProto, path: string, opts: SaveModelOptions = {}): Promise<SaveModelResult> {
  const target = resolve(path);
  const dir = dirname(target);
  const dirStat = await stat(dir).catch(() => undefined);
  if (!dirStat?.isDirectory()) throw new ModelFileError(`cannot save ${target}: folder ${dir} does not exist`, 'output');
  if (!model.graph) throw new ModelFileError(`cannot save ${target}: the model has no graph`);

  const slots = collectTensors(model);
  const externals = slots.filter((s) => isExternal(s.tensor));
  if (externals.length > 0 && opts.sourceDir === undefined) {
    throw new ModelFileError(
      `cannot save ${target}: ${externals.length} tensors (e.g. "${externals[0]!.tensor.name}") keep their data in external files; pass { sourceDir: loaded.dir } so they can be read`,
    );
  }
  const sourceDir = opts.sourceDir ?? dir;
  const ext = opts.externalData ?? {};
  const transform = opts.transform;

  if (ext === false && !transform) {
    const inlineBytes = slots.reduce((sum, s) => sum + storedLength(s.tensor), 0);
    if (inlineBytes > PROTOBUF_LIMIT) {
      throw new ModelFileError(
        `cannot save ${target} inline: its tensors hold ${inlineBytes} bytes, over protobuf's 2 GiB limit. Save with external data (omit externalData: false).`,
      );
    }
  }
  const location = ext === false ? undefined : (ext.location ?? `${basename(target)}.data`);
  const threshold = ext === false ? Infinity : (ext.sizeThreshold ?? 1024);
  let dataPath: string | undefined;
  if (location !== undefined) {
    checkRelativeLocation(location, '(save target)');
    dataPath = resolve(dir, location);
    resolveExternalLocation(dir, location, '(save target)'); // a symlinked subfolder must not lead out of dir
    await mkdir(dirname(dataPath), { recursive: true });
    await refuseOverwritingSources(externals.map((s) => s.tensor), sourceDir, dataPath);
  }

  const writer = dataPath !== undefined && ext !== false ? await ExternalDataWriter.create(dataPath, ext.alignment ?? DEFAULT_ALIGNMENT) : undefined;
  const temps: string[] = [];
  try {
    const replacements = new Map<TensorProto, TensorProto>();
    let tensorsExternal = 0;
    let tensorsTransformed = 0;
    let inlineBytes = 0;
    const toExternal = (t: TensorProto, placed: { offset: number; length: number }, dims?: number[]) => {
      replacements.set(t, externalised(t, location!, placed, dims));
      tensorsExternal++;
    };
    const toInline = (t: TensorProto, bytes: Uint8Array, dims?: number[]) => {
      replacements.set(t, inlined(t, bytes, dims));
      inlineBytes += bytes.length;
    };
    let done = 0;
    for (const { tensor, initializer } of slots) {
      if (replacements.has(tensor)) continue; // one object referenced twice: write it once
      const made = transform ? await transform(tensor, { initializer, read: (into) => readTensorBytes(tensor, sourceDir, into) }) : undefined;
      if (made && 'chunks' in made) {
        tensorsTransformed++;
        const what = `tensor "${tensor.name}"`;
        if (writer && tensor.dataType !== DataType.STRING && made.byteLength > threshold) toExternal(tensor, await writer.appendChunks(made.chunks, made.byteLength, what), made.dims);
        else toInline(tensor, await gatherChunks(made, what), made.dims);
      } else if (made) {
        tensorsTransformed++;
        if (writer && tensor.dataType !== DataType.STRING && made.bytes.length > threshold) toExternal(tensor, await writer.append(made.bytes), made.dims);
        else toInline(tensor, made.reused ? made.bytes.slice() : made.bytes, made.dims);
      } else if (isExternal(tensor)) {
        const r = await openExternalRange(tensor, sourceDir, expectedLength(tensor));
        try {
          if (writer && r.length > threshold) {
            toExternal(tensor, await writer.copyFrom(r.handle, r.offset, r.length, `${r.path} (tensor "${tensor.name}")`));
          } else {
            const bytes = new Uint8Array(r.length);
            await readRange(r.handle, bytes, r.length, r.offset, `${r.path} (tensor "${tensor.name}")`);
            toInline(tensor, bytes);
          }
        } finally {
          await r.handle.close();
        }
      } else if (writer && initializer && tensor.dataType !== DataType.STRING && storedLength(tensor) > threshold) {
        toExternal(tensor, await writer.append(inlineTensorBytes(tensor)));
      }
      opts.onProgress?.({ done: ++done, total: slots.length, tensor: tensor.name ?? '' });
    }
    if (!writer && inlineBytes > PROTOBUF_LIMIT) {
      throw new ModelFileError(`cannot save ${target} inline: its tensors hold over ${inlineBytes} bytes, over protobuf's 2 GiB limit. Save with external data.`);
    }
    const written = replaceTensors(model, replacements);
    const bytes = encodeChecked(written, target);
    const modelTemp = tempPathFor(target);
    temps.push(modelTemp);
    await writeNewFileSynced(modelTemp, bytes);
    const committedData = writer && tensorsExternal > 0 ? dataPath : undefined;
    const sidecars = (opts.sidecars?.({ modelPath: target, ...(committedData ? { dataPath: committedData } : {}) }) ?? []).map((f) => ({ ...f, temp: tempPathFor(resolve(f.path)) }));
    for (const f of sidecars) {
      temps.push(f.temp);
      await writeNewFileSynced(f.temp, typeof f.data === 'string' ? Buffer.from(f.data, 'utf8') : f.data);
    }
    const dataBytes = writer?.size ?? 0;
    if (committedData) await writer!.commit();
    else await writer?.abort();
    await renameDurably(modelTemp, target);
    for (const f of sidecars) await renameDurably(f.temp, resolve(f.path));
    return {
      bytesWritten: bytes.length + (committedData ? dataBytes : 0),
      tensorsExternal,
      tensorsTransformed,
      modelPath: target,
      ...(committedData ? { dataPath: committedData } : {}),
      model: written,
    };
  } catch (e) {
    await writer?.abort();
    for (const t of temps) await unlink(t).catch(() => {});
    throw e;
  }
}

/** A streamed replacement kept inline: its chunks copied into one buffer. */
async function gatherChunks(made: StreamedReplacement, what: string): Promise<Uint8Array> {
  const out = new Uint8Array(made.byteLength);
  let done = 0;
  for await (const chunk of made.chunks) {
    if (done + chunk.length > out.length) throw new RangeError(`${what}: the chunks hold more than the ${out.length} bytes announced`);
    out.set(chunk, done);
    done += chunk.length;
  }
  if (done !== out.length) throw new RangeError(`${what}: the chunks hold ${done} bytes, ${out.length} were announced`);
  return out;
}

/** A tensor's bytes: read by offset from its external file, or its inline data. */
async function readTensorBytes(t: TensorProto, sourceDir: string, into?: Uint8Array): Promise<Uint8Array> {
  if (!isExternal(t)) {
    const bytes = inlineTensorBytes(t);
    if (!into) return bytes;
    into.set(bytes);
    return into;
  }
  const length = tensorByteLength(t);
  const r = await openExternalRange(t, sourceDir, length);
  try {
    const buf = into ?? new Uint8Array(length);
    if (buf.length !== length) throw new ModelFileError(`tensor "${t.name}": read buffer of ${buf.length} bytes for ${length} bytes of data`);
    await readRange(r.handle, buf, length, r.offset, `${r.path} (tensor "${t.name}")`);
    return buf;
  } finally {
    await r.handle.close();
  }
}

/** Bytes of tensor data as stored (external length, raw_data, or dims x element size for typed fields). */
function storedLength(t: TensorProto): number {
  if (isExternal(t)) return externalDataRef(t).length ?? expectedLength(t) ?? 0;
  if (t.rawData && t.rawData.length > 0) return t.rawData.length;
  return expectedLength(t) ?? 0;
}

function expectedLength(t: TensorProto): number | undefined {
  try {
    return tensorByteLength(t);
  } catch {
    return undefined; // string or exotic types: no fixed element size
  }
}

function externalised(t: TensorProto, location: string, placed: { offset: number; length: number }, dims?: number[]): TensorProto {
  return { ...tensorWithoutData(t), ...(dims ? { dims } : {}), dataLocation: DATA_LOCATION_EXTERNAL, externalData: externalDataEntries({ location, ...placed }) };
}

function inlined(t: TensorProto, bytes: Uint8Array, dims?: number[]): TensorProto {
  return { ...tensorWithoutData(t), ...(dims ? { dims } : {}), rawData: bytes };
}

function encodeChecked(model: ModelProto, target: string): Uint8Array {
  const bytes = encodeModel(model);
  if (bytes.length > PROTOBUF_LIMIT) {
    throw new ModelFileError(
      `cannot save ${target}: the graph encodes to ${bytes.length} bytes, over protobuf's 2 GiB limit. Save with external data, or lower externalData.sizeThreshold.`,
    );
  }
  return bytes;
}

/** Writing the new data file over a file the model still reads from would corrupt both. */
async function refuseOverwritingSources(tensors: TensorProto[], sourceDir: string, dataPath: string): Promise<void> {
  const t = await tensorReadingFrom(tensors, sourceDir, dataPath);
  if (t) {
    throw new ModelFileError(
      `cannot save to ${dataPath}: the model's tensors (e.g. "${t.name}") are read from that same file. Save to another path or pass externalData.location.`,
    );
  }
}
