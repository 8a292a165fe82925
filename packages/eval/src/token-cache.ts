import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomicSync } from '@llm-bip/onnx-io';
import type { EncodeOptions, EvalTokenizer } from './tokenizer.js';

export interface CachedEncodeOptions extends EncodeOptions {
  /** Folder for cached ids; no caching when undefined. */
  cacheDir?: string;
}

/**
 * Encode a long text once and keep the ids on disk (Int32 little-endian), keyed by the tokenizer's
 * hash, the text's sha256 and the BOS/EOS choice: WikiText-2 takes ~9 s to tokenize in JS.
 */
export function encodeCached(tokenizer: EvalTokenizer, text: string, options: CachedEncodeOptions = {}): { ids: number[]; cached: boolean } {
  const { cacheDir, ...enc } = options;
  if (!cacheDir) return { ids: tokenizer.encode(text, enc), cached: false };
  const key = createHash('sha256')
    .update(tokenizer.hash)
    .update('\0')
    .update(text)
    .update('\0')
    .update(JSON.stringify({ addBos: enc.addBos ?? tokenizer.addBos, addEos: enc.addEos ?? tokenizer.addEos }))
    .digest('hex')
    .slice(0, 32);
  const file = join(cacheDir, `ids-${key}.i32`);
  if (existsSync(file)) {
    const buf = readFileSync(file);
    const view = new Int32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
    return { ids: Array.from(view), cached: true };
  }
  const ids = tokenizer.encode(text, enc);
  writeFileAtomicSync(file, new Uint8Array(Int32Array.from(ids).buffer), { mkdir: true });
  return { ids, cached: false };
}
