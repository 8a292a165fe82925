/**
 * The fetched-data cache (`<user cache>/data`, a data folder in the Hub's layout): fetch, list, verify.
 * `fetched.json` beside the files records, for each file, the sha256 it was checked against, the commit
 * the Hub resolved and when; `verify` checks a file against its pin, else against that record.
 */
import { existsSync } from 'node:fs';
import { readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { writeJsonAtomic } from '@llm-bip/onnx-io';
import { DataFetchError } from '../errors.js';
import { DATA_SETS, type DataSetName, type DataSetSpec, type HubFile } from './catalogue.js';
import { downloadHubFile, hubConnection, sha256File, type DownloadProgress } from './hub-download.js';
import { resolveDataSet, type DataLocation, type ResolvedDataSet } from './resolve.js';
import { dataCacheDir } from './user-cache.js';

const RECORD = 'fetched.json';
const RECORD_FORMAT = 'llm-bip.data-cache/v1';

export interface FetchedRecord {
  repo: string;
  revision: string;
  commit?: string;
  file: string;
  sha256: string;
  bytes: number;
  pinned: boolean;
  fetchedAt: string;
}

interface RecordFile {
  format: string;
  files: Record<string, FetchedRecord>;
}

export interface DataCacheOptions {
  env: NodeJS.ProcessEnv;
  /** the cache's data folder (default: dataCacheDir(env)) */
  dir?: string;
  /** the sets to act on (default: all) */
  sets?: readonly DataSetName[];
  /** the catalogue (tests serve their own bytes under the same names) */
  catalogue?: readonly DataSetSpec[];
}

async function readRecords(dir: string): Promise<Record<string, FetchedRecord>> {
  try {
    const r = JSON.parse(await readFile(join(dir, RECORD), 'utf8')) as RecordFile;
    return r.format === RECORD_FORMAT && r.files && typeof r.files === 'object' ? r.files : {};
  } catch {
    return {};
  }
}

async function writeRecord(dir: string, path: string, rec: FetchedRecord | undefined): Promise<void> {
  // read-modify-write per file: a record lost to a concurrent fetch only makes verify ask for a refetch
  const files = await readRecords(dir);
  if (rec) files[path] = rec;
  else delete files[path];
  await writeJsonAtomic(join(dir, RECORD), { format: RECORD_FORMAT, files } satisfies RecordFile, { mkdir: true, space: 2 });
}

function selected(opts: DataCacheOptions): DataSetSpec[] {
  const catalogue = opts.catalogue ?? DATA_SETS;
  if (!opts.sets) return [...catalogue];
  return opts.sets.map((n) => {
    const s = catalogue.find((c) => c.name === n);
    if (!s) throw new DataFetchError(`unknown dataset "${n}" (known: ${catalogue.map((c) => c.name).join(', ')})`);
    return s;
  });
}

async function fileSize(path: string): Promise<number | undefined> {
  try {
    const s = await stat(path);
    return s.isFile() ? s.size : undefined;
  } catch {
    return undefined;
  }
}

export type FileState = 'ok' | 'missing' | 'corrupt' | 'unrecorded' | 'present';

export interface FileStatus {
  set: DataSetName;
  /** the file in the cache */
  path: string;
  repo: string;
  revision: string;
  file: string;
  /** ok / corrupt / unrecorded after verify; present / missing from list (which hashes nothing) */
  state: FileState;
  bytes?: number;
  /** the sha256 it must have: the pin, else the one recorded at fetch time */
  sha256?: string;
  pinned: boolean;
  /** bytes of an interrupted download waiting to be resumed */
  partBytes?: number;
  /** verify: the sha256 found */
  actual?: string;
}

async function statusOf(set: DataSetName, f: HubFile, dir: string, records: Record<string, FetchedRecord>): Promise<FileStatus> {
  const path = join(dir, f.path);
  const bytes = await fileSize(path);
  const partBytes = await fileSize(`${path}.part`);
  const sha256 = f.sha256 ?? records[f.path]?.sha256;
  return {
    set,
    path,
    repo: f.repo,
    revision: f.revision,
    file: f.file,
    state: bytes === undefined ? 'missing' : 'present',
    ...(bytes !== undefined ? { bytes } : {}),
    ...(sha256 ? { sha256 } : {}),
    pinned: !!f.sha256,
    ...(partBytes !== undefined ? { partBytes } : {}),
  };
}

export interface SetStatus {
  name: DataSetName;
  what: string;
  licence: string;
  files: FileStatus[];
  /** where the set would be read from now (any folder in the search order), if anywhere */
  resolved?: ResolvedDataSet;
}

/** What the cache holds (sizes, no hashing) and where each set would be read from. */
export async function listDataSets(opts: DataCacheOptions & { location?: DataLocation }): Promise<SetStatus[]> {
  const dir = opts.dir ?? dataCacheDir(opts.env);
  const records = await readRecords(dir);
  const out: SetStatus[] = [];
  for (const s of selected(opts)) {
    const resolved = opts.location ? resolveDataSet(s.name, opts.location) : undefined;
    out.push({
      name: s.name,
      what: s.what,
      licence: s.licence,
      files: await Promise.all(s.hub.map((f) => statusOf(s.name, f, dir, records))),
      ...(resolved ? { resolved } : {}),
    });
  }
  return out;
}

/** Hash every cached file and compare with its pin or its fetch record. */
export async function verifyDataSets(opts: DataCacheOptions & { onFile?: (path: string) => void }): Promise<FileStatus[]> {
  const dir = opts.dir ?? dataCacheDir(opts.env);
  const records = await readRecords(dir);
  const out: FileStatus[] = [];
  for (const s of selected(opts)) {
    for (const f of s.hub) {
      const st = await statusOf(s.name, f, dir, records);
      if (st.state === 'missing') {
        out.push(st);
        continue;
      }
      opts.onFile?.(st.path);
      const actual = await sha256File(st.path);
      out.push({ ...st, actual, state: !st.sha256 ? 'unrecorded' : actual === st.sha256 ? 'ok' : 'corrupt' });
    }
  }
  return out;
}

export interface FetchEvent extends DownloadProgress {
  set: DataSetName;
  file: string;
}

export interface FetchResult {
  set: DataSetName;
  path: string;
  url?: string;
  /** fetched now, or already in the cache with the right sha256 */
  action: 'fetched' | 'cached';
  bytes: number;
  sha256: string;
  pinned: boolean;
  commit?: string;
}

export interface FetchOptions extends DataCacheOptions {
  signal?: AbortSignal;
  onProgress?: (e: FetchEvent) => void;
  /** called when a file starts (label for a progress bar) and when it is done */
  onFile?: (e: { set: DataSetName; file: HubFile; phase: 'start' | 'done'; result?: FetchResult }) => void;
  log?: (line: string) => void;
  stallMs?: number;
  retries?: number;
}

/**
 * Download the sets' Hub files into the cache. A file already there is hashed and kept when it checks
 * out; a corrupt one is deleted and fetched again; an interrupted download is resumed.
 */
export async function fetchDataSets(opts: FetchOptions): Promise<FetchResult[]> {
  const dir = opts.dir ?? dataCacheDir(opts.env);
  const conn = hubConnection(opts.env);
  const results: FetchResult[] = [];
  for (const s of selected(opts)) {
    for (const f of s.hub) {
      opts.onFile?.({ set: s.name, file: f, phase: 'start' });
      const dest = join(dir, f.path);
      const records = await readRecords(dir);
      const want = f.sha256 ?? records[f.path]?.sha256;
      let result: FetchResult | undefined;
      if (existsSync(dest) && want) {
        const actual = await sha256File(dest);
        if (actual === want) {
          const commit = records[f.path]?.commit;
          result = { set: s.name, path: dest, action: 'cached', bytes: (await fileSize(dest)) ?? 0, sha256: actual, pinned: !!f.sha256, ...(commit ? { commit } : {}) };
        } else {
          opts.log?.(`${s.name}: ${dest} has sha256 ${actual}, not ${want}: fetching it again`);
        }
      }
      if (!result) {
        if (existsSync(dest)) await rm(dest, { force: true });
        const got = await downloadHubFile(f, dest, {
          ...conn,
          ...(opts.signal ? { signal: opts.signal } : {}),
          ...(opts.log ? { log: opts.log } : {}),
          ...(opts.stallMs !== undefined ? { stallMs: opts.stallMs } : {}),
          ...(opts.retries !== undefined ? { retries: opts.retries } : {}),
          onProgress: (p) => opts.onProgress?.({ ...p, set: s.name, file: f.file }),
        });
        await writeRecord(dir, f.path, {
          repo: f.repo,
          revision: f.revision,
          ...(got.commit ? { commit: got.commit } : {}),
          file: f.file,
          sha256: got.sha256,
          bytes: got.bytes,
          pinned: got.pinned,
          fetchedAt: new Date().toISOString(),
        });
        result = { set: s.name, path: dest, url: got.url, action: 'fetched', bytes: got.bytes, sha256: got.sha256, pinned: got.pinned, ...(got.commit ? { commit: got.commit } : {}) };
      }
      results.push(result);
      opts.onFile?.({ set: s.name, file: f, phase: 'done', result });
    }
  }
  return results;
}
