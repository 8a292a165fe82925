/**
 * HF checkpoint folders exported to ONNX once, cached by content: the key hashes config.json, the
 * safetensors files' names, sizes, headers and a sample of their bytes (like modelFingerprint: never
 * gigabytes), and the export options. An entry is a folder written under a temp name and renamed into
 * place, with `entry.json` (the key and every file's size) written last inside it; a folder without
 * it, or whose files' sizes differ from it (a crash mid-write, a truncated file), is removed and rebuilt.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { exportLlamaToOnnx, type ExportOptions } from '@llm-bip/model';
import { hooksOf, type PipelineHooks } from './hooks.js';

/** Bump when the exporter's output for the same checkpoint changes. */
const CACHE_FORMAT = 'llm-bip.export-cache/v1';
const ENTRY_FILE = 'entry.json';
const SAMPLE = 64 * 1024;
const SAMPLES = 16;

export type CachedExportOptions = Pick<ExportOptions, 'dtype' | 'kvCache' | 'externalData'>;

/** The content key of an HF folder under given export options (hex SHA-256). */
export async function checkpointKey(hfDir: string, opts: CachedExportOptions): Promise<string> {
  const h = createHash('sha256');
  h.update(`${CACHE_FORMAT}\0${JSON.stringify({ dtype: opts.dtype, kvCache: opts.kvCache, externalData: opts.externalData ?? null })}\0`);
  h.update(await readFile(join(hfDir, 'config.json')));
  const names = readdirSync(hfDir)
    .filter((n) => n.endsWith('.safetensors') || n.endsWith('.safetensors.index.json'))
    .sort();
  for (const name of names) {
    const path = join(hfDir, name);
    const size = (await stat(path)).size;
    h.update(`\0${name}\0${size}\0`);
    const f = await open(path, 'r');
    try {
      // the header (tensor names, dtypes, shapes, offsets) whole, then evenly spaced samples of the data
      const head = Buffer.alloc(Math.min(8, size));
      await f.read(head, 0, head.length, 0);
      const headerLen = head.length === 8 ? Number(head.readBigUInt64LE(0)) : 0;
      const first = Math.min(size, 8 + Math.min(headerLen, 100 * 1024 * 1024));
      h.update(await readRange(f, 0, first));
      for (let i = 0; i <= SAMPLES && size > first; i++) {
        const at = first + Math.floor(((size - first - Math.min(SAMPLE, size - first)) * i) / SAMPLES);
        h.update(await readRange(f, at, Math.min(SAMPLE, size - at)));
      }
    } finally {
      await f.close();
    }
  }
  return h.digest('hex');
}

async function readRange(f: Awaited<ReturnType<typeof open>>, at: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  const { bytesRead } = await f.read(buf, 0, length, at);
  return buf.subarray(0, bytesRead);
}

export interface CachedExport {
  /** the exported model.onnx */
  onnxPath: string;
  key: string;
  /** true when an earlier run had exported it */
  reused: boolean;
}

/** The ONNX export of `hfDir` in `cacheDir/exports/<key>/`, made now if no complete entry is there. */
export async function exportCached(hfDir: string, cacheDir: string, opts: CachedExportOptions, hooks?: PipelineHooks): Promise<CachedExport> {
  const h = hooksOf(hooks);
  const key = await checkpointKey(hfDir, opts);
  const root = join(cacheDir, 'exports');
  const entry = join(root, key);
  const onnxPath = join(entry, 'model.onnx');
  if (await complete(entry, key)) {
    h.log(`export: reusing the cached ONNX export of ${hfDir} (${entry})`);
    return { onnxPath, key, reused: true };
  }
  if (existsSync(entry)) {
    h.log(`export: the cached entry ${entry} is incomplete; exporting again`);
    await rm(entry, { recursive: true, force: true });
  }
  await mkdir(root, { recursive: true });
  const staging = join(root, `.tmp-${key.slice(0, 16)}-${process.pid}-${Date.now()}`);
  await mkdir(staging);
  try {
    const bar = h.progress({ label: 'export', unit: 'tensor' });
    await exportLlamaToOnnx(hfDir, join(staging, 'model.onnx'), {
      ...opts,
      onProgress: (p) => {
        h.check();
        bar.update(p.done, p.total);
      },
    });
    bar.finish();
    const files = Object.fromEntries(await Promise.all(readdirSync(staging).sort().map(async (n) => [n, (await stat(join(staging, n))).size] as const)));
    const meta = { format: CACHE_FORMAT, key, source: resolve(hfDir), options: opts, files, createdAt: new Date().toISOString() };
    await writeFile(join(staging, ENTRY_FILE), `${JSON.stringify(meta, null, 2)}\n`);
    try {
      await rename(staging, entry);
    } catch (e) {
      // another run finished the same entry first: use theirs
      if (!(await complete(entry, key))) throw e;
      await rm(staging, { recursive: true, force: true });
    }
  } catch (e) {
    await rm(staging, { recursive: true, force: true });
    throw e;
  }
  return { onnxPath, key, reused: false };
}

async function complete(entry: string, key: string): Promise<boolean> {
  try {
    const meta = JSON.parse(await readFile(join(entry, ENTRY_FILE), 'utf8')) as { format?: string; key?: string; files?: Record<string, number> };
    if (meta.format !== CACHE_FORMAT || meta.key !== key || !meta.files?.['model.onnx']) return false;
    for (const [name, size] of Object.entries(meta.files)) if ((await stat(join(entry, name))).size !== size) return false;
    return true;
  } catch {
    return false;
  }
}
