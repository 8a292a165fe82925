/**
 * One Hub file into a local path: HTTP Range into `<dest>.part` (an interrupted download resumes from the
 * bytes already there), sha256 over the whole file, then an atomic rename. Nothing appears at `dest`
 * unless its sha256 is the expected one; a `.part` whose hash comes out wrong is deleted.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { DataFetchError } from '../errors.js';
import { hubUrl, type HubFile } from './catalogue.js';

export const DEFAULT_HUB_ENDPOINT = 'https://huggingface.co';

export interface HubConnection {
  /** base URL: $LLM_BIP_HUB_URL, else $HF_ENDPOINT (as the HF tools read it), else https://huggingface.co */
  endpoint: string;
  /** $HF_TOKEN: sent as a bearer token, never printed */
  token?: string;
}

export function hubConnection(env: NodeJS.ProcessEnv): HubConnection {
  const endpoint = env.LLM_BIP_HUB_URL || env.HF_ENDPOINT || DEFAULT_HUB_ENDPOINT;
  return { endpoint, ...(env.HF_TOKEN ? { token: env.HF_TOKEN } : {}) };
}

export interface DownloadProgress {
  /** bytes on disk so far, resumed ones included */
  done: number;
  total?: number;
  /** bytes this attempt started from (a resumed download) */
  resumedFrom: number;
}

export interface DownloadOptions extends HubConnection {
  signal?: AbortSignal;
  onProgress?: (p: DownloadProgress) => void;
  /** say something (a resume, a retry) */
  log?: (line: string) => void;
  /** give up on a connection that sends nothing for this long (ms) */
  stallMs?: number;
  /** attempts after an interrupted transfer, each resuming where the last stopped */
  retries?: number;
}

export interface Downloaded {
  sha256: string;
  bytes: number;
  /** whether the sha256 was pinned in the catalogue or declared by the Hub */
  pinned: boolean;
  /** the commit the Hub resolved the revision to (X-Repo-Commit), when it said */
  commit?: string;
  url: string;
}

const SHA256 = /^[0-9a-f]{64}$/;

/** Network failures that mean "not reachable" rather than "reached and refused". */
const OFFLINE_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'ECONNREFUSED', 'ENETUNREACH', 'EHOSTUNREACH', 'ETIMEDOUT', 'ECONNRESET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_SOCKET']);

function causeCode(e: unknown): string | undefined {
  let c: unknown = e;
  for (let i = 0; i < 4 && c; i++) {
    const code = (c as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    c = (c as { cause?: unknown }).cause;
  }
  return undefined;
}

export function offlineError(endpoint: string, e: unknown): DataFetchError {
  const code = causeCode(e);
  return new DataFetchError(
    `cannot reach ${endpoint}${code ? ` (${code})` : ''}: this machine looks offline or the Hub is unreachable. ` +
      'Run `llm-bip data fetch` on a connected machine (then copy its data cache, `llm-bip data list` shows where), ' +
      'or pass --data DIR / set $LLM_BIP_DATA to a folder that holds the datasets' +
      (code && !OFFLINE_CODES.has(code) ? '' : '; set $HF_ENDPOINT or $LLM_BIP_HUB_URL to use a mirror'),
    { cause: e },
  );
}

function httpError(url: string, status: number, token: boolean): DataFetchError {
  if (status === 401 || status === 403) {
    return new DataFetchError(`${url}: HTTP ${status}: the Hub refused access; ${token ? 'check that $HF_TOKEN is valid' : 'set $HF_TOKEN to a Hugging Face access token'} and run fetch again`);
  }
  if (status === 404) return new DataFetchError(`${url}: HTTP 404: the Hub has no such file at this revision (is $HF_ENDPOINT / $LLM_BIP_HUB_URL a full mirror?)`);
  return new DataFetchError(`${url}: HTTP ${status} from the Hub; try again later`);
}

function headers(token: string | undefined, extra: Record<string, string> = {}): Record<string, string> {
  return { 'user-agent': 'llm-bip', ...(token ? { authorization: `Bearer ${token}` } : {}), ...extra };
}

/** The sha256 the Hub declares for an LFS file (X-Linked-Etag, or the ETag of a file served directly). */
function declaredSha256(h: Headers): string | undefined {
  for (const name of ['x-linked-etag', 'etag']) {
    const v = h.get(name)?.replace(/^W\//, '').replace(/"/g, '').trim().toLowerCase();
    if (v && SHA256.test(v)) return v;
  }
  return undefined;
}

async function hashFile(path: string, h: Hash): Promise<void> {
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
}

async function sizeOf(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).size;
  } catch {
    return undefined;
  }
}

/** sha256 of a whole file. */
export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  await hashFile(path, h);
  return h.digest('hex');
}

/** Download `f` to `dest` (see the file header). Throws DataFetchError with the cause and the fix. */
export async function downloadHubFile(f: HubFile, dest: string, opts: DownloadOptions): Promise<Downloaded> {
  const url = hubUrl(opts.endpoint, f);
  const token = opts.token;
  // HEAD without following the redirect: the Hub's own answer carries the file's sha256 and commit
  let head: Response;
  try {
    head = await fetch(url, { method: 'HEAD', redirect: 'manual', headers: headers(token), ...(opts.signal ? { signal: opts.signal } : {}) });
  } catch (e) {
    if (opts.signal?.aborted) throw e;
    throw offlineError(opts.endpoint, e);
  }
  if (head.status >= 400) throw httpError(url, head.status, !!token);
  const declared = declaredSha256(head.headers);
  const commit = head.headers.get('x-repo-commit') ?? undefined;
  const sizeHeader = head.headers.get('x-linked-size') ?? (head.status === 200 ? head.headers.get('content-length') : null);
  const total = f.bytes ?? (sizeHeader ? Number(sizeHeader) : undefined);
  if (f.sha256 && declared && declared !== f.sha256) {
    throw new DataFetchError(`${url}: the Hub declares sha256 ${declared}, not the pinned ${f.sha256}: the file changed at this revision or the mirror serves another one; nothing was downloaded`);
  }
  const expected = f.sha256 ?? declared;
  if (!expected) {
    throw new DataFetchError(`${url}: no sha256 to check it against (not pinned in llm-bip, and the Hub declared none); nothing was downloaded`);
  }

  const part = `${dest}.part`;
  await mkdir(dirname(dest), { recursive: true });
  const retries = opts.retries ?? 2;
  for (let attempt = 0; ; attempt++) {
    try {
      await transfer(url, part, total, opts);
      break;
    } catch (e) {
      if (opts.signal?.aborted || !(e instanceof InterruptedTransfer) || attempt >= retries) {
        if (e instanceof InterruptedTransfer) {
          throw new DataFetchError(`${url}: ${e.message}; ${e.have.toLocaleString('en-US')} bytes kept in ${part}: run fetch again to resume`, { cause: e.cause });
        }
        throw e;
      }
      opts.log?.(`${f.file}: ${e.message}; resuming from byte ${e.have.toLocaleString('en-US')}`);
    }
  }
  const bytes = (await sizeOf(part)) ?? 0;
  const got = await sha256File(part);
  if (got !== expected) {
    await rm(part, { force: true });
    throw new DataFetchError(
      `${url}: sha256 mismatch: got ${got}, expected ${expected} (${f.sha256 ? 'pinned in llm-bip' : 'declared by the Hub'}); the download was deleted and nothing was kept. ` +
        'If it happens again, the file served differs from the pinned one: report it',
    );
  }
  await rename(part, dest);
  return { sha256: got, bytes, pinned: !!f.sha256, ...(commit ? { commit } : {}), url };
}

/** A transfer that stopped midway (the connection closed, stalled): the `.part` keeps what arrived. */
class InterruptedTransfer extends Error {
  constructor(
    message: string,
    readonly have: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Fill `part` up to the whole file, resuming from its current length with a Range request. */
async function transfer(url: string, part: string, total: number | undefined, opts: DownloadOptions): Promise<void> {
  let have = (await sizeOf(part)) ?? 0;
  if (total !== undefined && have > total) {
    await rm(part, { force: true });
    have = 0;
  }
  if (total !== undefined && have === total) return;
  const ctrl = new AbortController();
  const onAbort = (): void => ctrl.abort(opts.signal?.reason);
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  let stalled = false;
  let timer: NodeJS.Timeout | undefined;
  const stallMs = opts.stallMs ?? 60_000;
  const arm = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      stalled = true;
      ctrl.abort();
    }, stallMs);
  };
  let res: Response;
  try {
    arm();
    try {
      res = await fetch(url, { headers: headers(opts.token, have > 0 ? { range: `bytes=${have}-` } : {}), signal: ctrl.signal });
    } catch (e) {
      if (opts.signal?.aborted) throw e;
      if (stalled) throw new InterruptedTransfer(`no answer for ${stallMs / 1000} s`, have, { cause: e });
      throw offlineError(opts.endpoint, e);
    }
    if (res.status === 416 && have > 0) {
      // the part is already as long as the file (or longer): start again from nothing
      await rm(part, { force: true });
      throw new InterruptedTransfer('the server refused the resume range', 0);
    }
    if (res.status !== 200 && res.status !== 206) throw httpError(url, res.status, !!opts.token);
    let start = 0;
    if (res.status === 206) {
      const m = /^bytes (\d+)-/.exec(res.headers.get('content-range') ?? '');
      start = m ? Number(m[1]) : -1;
      if (start !== have) {
        await res.body?.cancel();
        await rm(part, { force: true });
        throw new InterruptedTransfer(`the server answered the resume from byte ${have} with bytes from ${start}`, 0);
      }
    } else if (have > 0) {
      opts.log?.(`${url}: the server does not resume downloads; starting again from byte 0`);
    }
    const fh = await open(part, start === 0 ? 'w' : 'a');
    let done = start;
    opts.onProgress?.({ done, resumedFrom: start, ...(total !== undefined ? { total } : {}) });
    try {
      if (!res.body) throw new InterruptedTransfer('the response had no body', done);
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          arm();
          await fh.write(chunk);
          done += chunk.byteLength;
          opts.onProgress?.({ done, resumedFrom: start, ...(total !== undefined ? { total } : {}) });
        }
      } catch (e) {
        if (opts.signal?.aborted) throw e;
        throw new InterruptedTransfer(stalled ? `no data for ${stallMs / 1000} s` : 'the connection closed before the end of the file', done, { cause: e });
      }
      await fh.sync();
    } finally {
      await fh.close();
    }
    if (total !== undefined && done < total) throw new InterruptedTransfer(`the connection closed at byte ${done} of ${total}`, done);
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onAbort);
  }
}
