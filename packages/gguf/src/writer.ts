/**
 * Streamed, atomic GGUF writing: the header first (every tensor's offset follows from the shapes and
 * types alone), then each tensor as its `data()` produces it, one at a time, into a temp file beside
 * the target that is renamed into place only when the whole file is written (onnx-io's
 * ExternalDataWriter: the same aligned-append writer as ONNX external data).
 */
import { ExternalDataWriter } from '@llm-bip/onnx-io';
import { GgufError } from './errors.js';
import { encodeHeader, type GgufTensorInfo, type PlacedTensor } from './header.js';
import { ggmlTypeName } from './tensor-types.js';
import type { GgufMetadata } from './values.js';

export interface GgufTensorSource extends GgufTensorInfo {
  /** the tensor's bytes, already in `type` (exactly the size its shape and type give); called once, in order */
  data(): Promise<Uint8Array> | Uint8Array;
}

export interface WriteGgufOptions {
  signal?: AbortSignal;
  onProgress?: (p: { done: number; total: number; tensor: string }) => void;
  /** told the temp file's path when it is created, and again (`done: true`) once it is renamed or removed (Ctrl-C cleanup) */
  onTemp?: (tempPath: string, done: boolean) => void;
}

export interface WriteGgufResult {
  path: string;
  bytes: number;
  tensors: PlacedTensor[];
  alignment: number;
}

export async function writeGguf(path: string, metadata: GgufMetadata, tensors: readonly GgufTensorSource[], opts: WriteGgufOptions = {}): Promise<WriteGgufResult> {
  const header = encodeHeader(metadata, tensors);
  opts.signal?.throwIfAborted();
  const writer = await ExternalDataWriter.create(path, header.alignment);
  opts.onTemp?.(writer.tempPath, false);
  try {
    await writer.append(header.bytes);
    for (const [i, t] of header.tensors.entries()) {
      opts.signal?.throwIfAborted();
      const bytes = await tensors[i]!.data();
      if (bytes.length !== t.byteLength) {
        throw new GgufError(`tensor "${t.name}" (${ggmlTypeName(t.type)}, shape [${t.shape.join(', ')}]) needs ${t.byteLength} bytes, its source gave ${bytes.length}`);
      }
      const { offset } = await writer.append(bytes);
      if (offset !== header.dataStart + t.offset) throw new Error(`GGUF writer: tensor "${t.name}" landed at ${offset}, expected ${header.dataStart + t.offset}`);
      opts.onProgress?.({ done: i + 1, total: tensors.length, tensor: t.name });
    }
    await writer.padToAlignment();
    if (writer.size !== header.fileSize) throw new Error(`GGUF writer: wrote ${writer.size} bytes, expected ${header.fileSize}`);
    opts.signal?.throwIfAborted();
    await writer.commit();
  } catch (e) {
    await writer.abort();
    throw e;
  } finally {
    opts.onTemp?.(writer.tempPath, true);
  }
  return { path, bytes: header.fileSize, tensors: header.tensors, alignment: header.alignment };
}
