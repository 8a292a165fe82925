import { open, unlink, type FileHandle } from 'node:fs/promises';
import { renameDurably, tempPathFor, withPath } from '../atomic-file.js';
import { readRange } from './read.js';

/** Page size: ORT memory-maps external data, and page-aligned tensors can be mapped in place. */
export const DEFAULT_ALIGNMENT = 4096;
/** Copy buffer for file-to-file copies: big tensors never sit in memory whole. */
const COPY_CHUNK = 8 * 1024 * 1024;

/**
 * Appends tensors to an external data file, each at an aligned offset. Writes go to a temp file in
 * the target's folder; `commit()` renames it into place, `abort()` removes it.
 */
export class ExternalDataWriter {
  private position = 0;
  private done = false;
  private copyBuffer: Uint8Array | undefined;

  private constructor(
    readonly target: string,
    readonly tempPath: string,
    private readonly handle: FileHandle,
    readonly alignment: number,
  ) {}

  static async create(target: string, alignment = DEFAULT_ALIGNMENT): Promise<ExternalDataWriter> {
    if (!Number.isInteger(alignment) || alignment < 1) throw new RangeError(`alignment must be a positive integer, got ${alignment}`);
    const tempPath = tempPathFor(target);
    const handle = await open(tempPath, 'wx').catch((e: unknown) => Promise.reject(withPath(e, target)));
    return new ExternalDataWriter(target, tempPath, handle, alignment);
  }

  /** Bytes in the file so far (the end of the last tensor). */
  get size(): number {
    return this.position;
  }

  private nextOffset(): number {
    return Math.ceil(this.position / this.alignment) * this.alignment;
  }

  /** Append bytes at the next aligned offset; the gap reads as zeros. */
  async append(bytes: Uint8Array): Promise<{ offset: number; length: number }> {
    const offset = this.nextOffset();
    await this.writeFully(bytes, offset);
    this.position = offset + bytes.length;
    return { offset, length: bytes.length };
  }

  /**
   * Append one tensor that arrives in pieces: `chunks` in order, `length` bytes in all (checked). Each
   * chunk is written before the next is pulled, so a producer may reuse its buffer.
   */
  async appendChunks(chunks: AsyncIterable<Uint8Array>, length: number, what = 'tensor'): Promise<{ offset: number; length: number }> {
    const offset = this.nextOffset();
    let done = 0;
    for await (const chunk of chunks) {
      if (done + chunk.length > length) throw new RangeError(`${what}: the chunks hold more than the ${length} bytes announced`);
      await this.writeFully(chunk, offset + done);
      done += chunk.length;
    }
    if (done !== length) throw new RangeError(`${what}: the chunks hold ${done} bytes, ${length} were announced`);
    this.position = offset + length;
    return { offset, length };
  }

  /** Write zeros up to the next aligned offset, so the file ends on the alignment (formats such as GGUF pad the last tensor too). */
  async padToAlignment(): Promise<void> {
    const end = this.nextOffset();
    if (end > this.position) await this.writeFully(new Uint8Array(end - this.position), this.position);
    this.position = end;
  }

  /** All of `bytes` at `at` (a write may take fewer bytes than asked). */
  private async writeFully(bytes: Uint8Array, at: number): Promise<void> {
    let written = 0;
    while (written < bytes.length) {
      const { bytesWritten } = await this.handle.write(bytes, written, bytes.length - written, at + written).catch((e: unknown) => Promise.reject(withPath(e, this.tempPath)));
      written += bytesWritten;
    }
  }

  /** Append `length` bytes read from `source` at `sourceOffset`, in chunks. */
  async copyFrom(source: FileHandle, sourceOffset: number, length: number, what = 'source'): Promise<{ offset: number; length: number }> {
    const offset = this.nextOffset();
    this.copyBuffer ??= new Uint8Array(COPY_CHUNK);
    const buf = this.copyBuffer;
    for (let done = 0; done < length; ) {
      const n = Math.min(buf.length, length - done);
      await readRange(source, buf, n, sourceOffset + done, what);
      await this.writeFully(buf.subarray(0, n), offset + done);
      done += n;
    }
    this.position = offset + length;
    return { offset, length };
  }

  /** Flush, close and rename the temp file onto the target (the folder is synced too). */
  async commit(): Promise<void> {
    if (this.done) throw new Error('ExternalDataWriter: already committed or aborted');
    this.done = true;
    try {
      await this.handle.datasync().catch((e: unknown) => Promise.reject(withPath(e, this.tempPath)));
      await this.handle.close();
      await renameDurably(this.tempPath, this.target);
    } catch (e) {
      await this.handle.close().catch(() => {});
      await unlink(this.tempPath).catch(() => {});
      throw e;
    }
  }

  /** Close and delete the temp file (safe to call after a failed write). */
  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    await this.handle.close().catch(() => {});
    await unlink(this.tempPath).catch(() => {});
  }
}
