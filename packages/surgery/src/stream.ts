/**
 * Writing the pruned model: tensor by tensor, each source initializer is read (by offset, from external
 * data), sliced if the plan touches it, appended to the output data file and dropped; then the .onnx
 * and the sidecar files. Everything goes to temp files in the output folder and is renamed into place
 * only when all of it is written (data first). This mirrors onnx-io's saveModel, which cannot take
 * per-tensor transformed data yet.
 */
import { rename, unlink } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { DATA_LOCATION_EXTERNAL, DataType, ExternalDataWriter, PROTOBUF_LIMIT, collectTensors, elementSize, encodeModel, externalDataEntries, inlineTensorBytes, isExternal, openExternalRange, readRange, replaceTensors, tempPathFor, tensorReadingFrom, tensorWithoutData, writeNewFileSynced, tensorByteLength, tensorDims, type ModelProto, type TensorProto } from '@llm-bip/onnx-io';
import { SurgeryError } from './errors.js';
import { sliceAxis } from './slice.js';
import type { WeightSlice } from './edits.js';

export interface StreamWriteOptions {
  /** folder the source model's external data locations are relative to */
  sourceDir: string;
  /** absolute path of the source .onnx (refused as a target) */
  sourcePath?: string;
  /** absolute output .onnx path */
  outPath: string;
  /** weights go to `<out>.data` (default) or stay inline (the model must stay under 2 GiB) */
  externalData: boolean;
  /** initializers with more bytes than this go external (default 1024) */
  sizeThreshold?: number;
  slices: Map<string, WeightSlice>;
  /** small text files written beside the model, in the same all-or-nothing step (text made once the data file is known) */
  extraFiles?: Array<{ path: string; text: (written: { dataPath?: string }) => string }>;
  onProgress?: (p: { done: number; total: number; tensor: string }) => void;
}

export interface StreamWriteResult {
  modelPath: string;
  dataPath?: string;
  modelBytes: number;
  dataBytes: number;
  tensorsSliced: number;
  /** the written model (tensors point at the new data file) */
  model: ModelProto;
}

export async function writePrunedModel(model: ModelProto, opts: StreamWriteOptions): Promise<StreamWriteResult> {
  const outPath = resolve(opts.outPath);
  if (opts.sourcePath && resolve(opts.sourcePath) === outPath) {
    throw new SurgeryError(`the output ${outPath} is the input model: write the pruned model to another path`);
  }
  const location = `${basename(outPath)}.data`;
  const dataPath = resolve(dirname(outPath), location);
  const threshold = opts.sizeThreshold ?? 1024;
  const slots = collectTensors(model);
  await refuseOverwritingSources(slots.map((s) => s.tensor).filter(isExternal), opts.sourceDir, dataPath);

  const writer = opts.externalData ? await ExternalDataWriter.create(dataPath) : undefined;
  const temps: string[] = [];
  try {
    const replacements = new Map<TensorProto, TensorProto>();
    let external = 0;
    let sliced = 0;
    let inlineBytes = 0;
    const pool = new BufferPool();
    // `pooled`: bytes live in a reused buffer, so a tensor kept inline needs its own copy
    const place = async (t: TensorProto, bytes: Uint8Array, dims?: number[], pooled = false) => {
      const base = dims ? { ...tensorWithoutData(t), dims } : tensorWithoutData(t);
      if (writer && t.dataType !== DataType.STRING && bytes.length > threshold) {
        const placed = await writer.append(bytes);
        external++;
        replacements.set(t, { ...base, dataLocation: DATA_LOCATION_EXTERNAL, externalData: externalDataEntries({ location, ...placed }) });
      } else {
        inlineBytes += bytes.length;
        replacements.set(t, { ...base, rawData: pooled ? bytes.slice() : bytes });
      }
    };
    let done = 0;
    for (const { tensor, initializer } of slots) {
      const slice = initializer ? opts.slices.get(tensor.name ?? '') : undefined;
      if (slice) {
        // read and slice through two reused buffers: garbage does not pile up between collections
        const length = tensorByteLength(tensor);
        let src: Uint8Array;
        if (isExternal(tensor)) {
          src = pool.input(length);
          const r = await openExternalRange(tensor, opts.sourceDir, length);
          try {
            await readRange(r.handle, src, length, r.offset, `${r.path} (tensor "${tensor.name}")`);
          } finally {
            await r.handle.close();
          }
        } else {
          src = inlineTensorBytes(tensor);
        }
        const size = elementSize(tensor.dataType ?? 0);
        const s = sliceAxis(src, tensorDims(tensor), size, slice.axis, slice.keep, tensor.name ?? '?', pool.output((length / slice.size) * slice.keep.length));
        await place(tensor, s.bytes, s.dims, true);
        sliced++;
      } else if (isExternal(tensor)) {
        const r = await openExternalRange(tensor, opts.sourceDir, tensorByteLength(tensor));
        try {
          if (writer && r.length > threshold) {
            const placed = await writer.copyFrom(r.handle, r.offset, r.length, `${r.path} (tensor "${tensor.name}")`);
            external++;
            replacements.set(tensor, { ...tensorWithoutData(tensor), dataLocation: DATA_LOCATION_EXTERNAL, externalData: externalDataEntries({ location, ...placed }) });
          } else {
            const bytes = new Uint8Array(r.length);
            await readRange(r.handle, bytes, r.length, r.offset, r.path);
            await place(tensor, bytes);
          }
        } finally {
          await r.handle.close();
        }
      } else if (writer && initializer && tensor.dataType !== DataType.STRING) {
        const bytes = inlineTensorBytes(tensor);
        if (bytes.length > threshold) await place(tensor, bytes);
      }
      opts.onProgress?.({ done: ++done, total: slots.length, tensor: tensor.name ?? '' });
    }
    if (!writer && inlineBytes > PROTOBUF_LIMIT) {
      throw new SurgeryError(`the pruned model holds ${inlineBytes} bytes of weights, over protobuf's 2 GiB limit: write it with external data`);
    }
    const written = replaceTensors(model, replacements);
    const bytes = encodeModel(written);
    if (bytes.length > PROTOBUF_LIMIT) throw new SurgeryError(`the pruned graph encodes to ${bytes.length} bytes, over protobuf's 2 GiB limit: write it with external data`);
    const modelTemp = tempPathFor(outPath);
    temps.push(modelTemp);
    await writeNewFileSynced(modelTemp, bytes);
    const extras: Array<{ temp: string; path: string }> = [];
    for (const f of opts.extraFiles ?? []) {
      const temp = tempPathFor(f.path);
      temps.push(temp);
      await writeNewFileSynced(temp, new TextEncoder().encode(f.text(writer && external > 0 ? { dataPath } : {})));
      extras.push({ temp, path: f.path });
    }
    const dataBytes = writer?.size ?? 0;
    if (writer && external > 0) await writer.commit();
    else await writer?.abort();
    await rename(modelTemp, outPath);
    for (const x of extras) await rename(x.temp, x.path);
    return {
      modelPath: outPath,
      ...(writer && external > 0 ? { dataPath } : {}),
      modelBytes: bytes.length,
      dataBytes: external > 0 ? dataBytes : 0,
      tensorsSliced: sliced,
      model: written,
    };
  } catch (e) {
    await writer?.abort();
    for (const t of temps) await unlink(t).catch(() => {});
    throw e;
  }
}

/** Two growable buffers (source bytes, sliced bytes), sized by the largest tensor seen. */
class BufferPool {
  private a = new Uint8Array(0);
  private b = new Uint8Array(0);
  input(n: number): Uint8Array {
    if (this.a.length < n) this.a = new Uint8Array(n);
    return this.a.subarray(0, n);
  }
  output(n: number): Uint8Array {
    if (this.b.length < n) this.b = new Uint8Array(n);
    return this.b.subarray(0, n);
  }
}

/** The new data file must not replace a file the source model is still read from. */
async function refuseOverwritingSources(tensors: TensorProto[], sourceDir: string, dataPath: string): Promise<void> {
  if (await tensorReadingFrom(tensors, sourceDir, dataPath)) {
    throw new SurgeryError(`the output data file ${dataPath} is the input model's data file: write the pruned model to another folder or name`);
  }
}
