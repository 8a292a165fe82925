import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomicSync } from '@llm-bip/onnx-io';
import type { EncodeOptions, EvalTokenizer } from './tokenizer.js';

export interface CachedEncodeOptions extends EncodeOptions {
  /** Folder for cached ids; no caching when undefined. */
  cacheDir?: string;
  /** told when a damaged cache file is rebuilt (default: process.emitWarning) */
  warn?: (text: string) => void;
}

/** Cache file layout: magic, id count (u32 LE), sha256 of the ids' bytes, then the ids (i32 LE). */
const MAGIC = Buffer.from('LBIPTOK2');
const HEADER = MAGIC.length + 4 + 32;

function encodeCacheFile(ids: number[]): Uint8Array {
  const data = Buffer.from(Int32Array.from(ids).buffer);
  const count = Buffer.alloc(4);
  count.writeUInt32LE(ids.length);
  return Buffer.concat([MAGIC, count, createHash('sha256').update(data).digest(), data]);
}

/** The ids of a cache file, or the reason it cannot be trusted (truncated, edited, old format). */
function decodeCacheFile(buf: Buffer): number[] | string {
  if (buf.length < HEADER || !buf.subarray(0, MAGIC.length).equals(MAGIC)) return 'it is not in the current cache format';
  const count = buf.readUInt32LE(MAGIC.length);
  const data = buf.subarray(HEADER);
  if (data.length !== count * 4) return `it holds ${Math.floor(data.length / 4)} of its ${count} ids (truncated)`;
  if (!createHash('sha256').update(data).digest().equals(buf.subarray(MAGIC.length + 4, HEADER))) return 'its ids do not match their checksum';
  const view = new Int32Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
  return Array.from(view);
}

/**
 * Encode a long text once and keep the ids on disk (Int32 little-endian), keyed by the tokenizer's
 * hash, the text's sha256 and the BOS/EOS choice: WikiText-2 takes ~9 s to tokenize in JS.
 */
export function encodeCached(tokenizer: EvalTokenizer, text: string, options: CachedEncodeOptions = {}): { ids: number[]; cached: boolean } {
  const { cacheDir, warn: _warn, ...enc } = options;
  if (!cacheDir) return { ids: tokenizer.encode(text, enc), cached: false };
  const key = createHash('sha256')
    .update(tokenizer.hash)
    .update('\0')
    .update(text)
    .update('\0')
    .update(JSON.stringify({ addBos: enc.addBos ?? tokenizer.addBos, addEos: enc.addEos ?? tokenizer.addEos }))
    .digest('hex')
    .slice(0, 32);
  const file = join(cacheDir, `ids-${key}.v2.i32`);
  if (existsSync(file)) {
    const got = decodeCacheFile(readFileSync(file));
    if (typeof got !== 'string') return { ids: got, cached: true };
    // a truncated cache would silently shorten the evaluation: rebuild it
    (options.warn ?? ((t: string) => process.emitWarning(t)))(`token cache ${file} is damaged (${got}); tokenizing again and rewriting it`);
  }
  const ids = tokenizer.encode(text, enc);
  writeFileAtomicSync(file, encodeCacheFile(ids), { mkdir: true });
  return { ids, cached: false };
}
