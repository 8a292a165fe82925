/**
 * The one way this project puts a finished file in place: write a temp file in the target's own folder
 * (same file system, so the rename is atomic), fsync it, rename it onto the target, fsync the folder
 * (so the rename itself survives a crash). Readers see the old file or the whole new one, never half.
 * Every writer (models, data files, JSON records, caches, CLI outputs) goes through here.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { mkdir, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';

/** Marker in every temp name this module makes (leftovers of killed runs are recognisable by it). */
export const TEMP_MARK = '.llm-bip-tmp';

/** A temp name beside `target` (same folder, so rename is atomic), unique to this process. */
export function tempPathFor(target: string): string {
  return join(dirname(target), `${TEMP_MARK}-${process.pid}-${randomBytes(4).toString('hex')}-${basename(target)}.tmp`);
}

/** True for names made by `tempPathFor` (and the CLI's staging folders). */
export function isTempName(name: string): boolean {
  return basename(name).startsWith(TEMP_MARK);
}

/** The pid a temp name was made by, if it carries one. */
export function tempNamePid(name: string): number | undefined {
  const m = /^\.llm-bip-tmp-(\d+)-/.exec(basename(name));
  return m ? Number(m[1]) : undefined;
}

export interface AtomicWriteOptions {
  /** create the target's folder (and parents) first (default false: a missing folder is an error) */
  mkdir?: boolean;
  /** checked before the rename: an aborted run leaves the old file */
  signal?: AbortSignal;
  /** told the temp path before it is created, and again (with `done: true`) once it is gone */
  onTemp?: (tempPath: string, done: boolean) => void;
}

/** Write `data` to `path` atomically and durably (see the module comment). */
export async function writeFileAtomic(path: string, data: Uint8Array | string, opts: AtomicWriteOptions = {}): Promise<void> {
  opts.signal?.throwIfAborted();
  const target = resolve(path);
  if (opts.mkdir) await mkdir(dirname(target), { recursive: true });
  const temp = tempPathFor(target);
  opts.onTemp?.(temp, false);
  try {
    await writeNewFileSynced(temp, typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
    opts.signal?.throwIfAborted();
    await renameDurably(temp, target);
  } catch (e) {
    await unlink(temp).catch(() => {});
    throw e;
  } finally {
    opts.onTemp?.(temp, true);
  }
}

/** `JSON.stringify(value, null, space)` written with `writeFileAtomic` (`space` set: with a final newline). */
export async function writeJsonAtomic(path: string, value: unknown, opts: AtomicWriteOptions & { space?: number } = {}): Promise<void> {
  const text = opts.space === undefined ? JSON.stringify(value) : `${JSON.stringify(value, null, opts.space)}\n`;
  await writeFileAtomic(path, text, opts);
}

/** The synchronous twin, for callers that cannot await (caches filled inside sync code, scripts). */
export function writeFileAtomicSync(path: string, data: Uint8Array | string, opts: { mkdir?: boolean } = {}): void {
  const target = resolve(path);
  if (opts.mkdir) mkdirSync(dirname(target), { recursive: true });
  const temp = tempPathFor(target);
  try {
    const fd = openSync(temp, 'wx');
    try {
      const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
      for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done, bytes.length - done, done);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, target);
    syncDirSync(dirname(target));
  } catch (e) {
    try {
      unlinkSync(temp);
    } catch {
      // already gone
    }
    throw e;
  }
}

/** Write a file that must not exist yet, and sync it before returning (the caller renames it into place). */
export async function writeNewFileSynced(path: string, bytes: Uint8Array): Promise<void> {
  try {
    const handle = await open(path, 'wx');
    try {
      let done = 0;
      while (done < bytes.length) done += (await handle.write(bytes, done, bytes.length - done, done)).bytesWritten;
      await handle.datasync();
    } finally {
      await handle.close();
    }
  } catch (e) {
    throw withPath(e, path);
  }
}

/**
 * Give an fs error from a write (ENOSPC, EIO: Node sets no path on those) the path of the file being
 * written, so the message can name it. Returns `e`.
 */
export function withPath(e: unknown, path: string): unknown {
  if (e instanceof Error && (e as NodeJS.ErrnoException).code && (e as NodeJS.ErrnoException).path === undefined) (e as NodeJS.ErrnoException).path = path;
  return e;
}

/** The path to show a user for a temp or staged path: the file it is about to become. */
export function intendedPathOf(path: string): string {
  const full = resolve(path);
  const m = /^\.llm-bip-tmp-\d+-[0-9a-f]{8}-(.+)\.tmp$/.exec(basename(full));
  return committedPathOf(m ? join(dirname(full), m[1]!) : full);
}

/** Rename a finished, synced file (or folder) into place, then sync the folder so the new name is durable. */
export async function renameDurably(from: string, to: string): Promise<void> {
  await rename(from, to);
  await syncDir(dirname(to));
}

/** fsync a folder (its entries); file systems that cannot (some network mounts) are not an error. */
export async function syncDir(dir: string): Promise<void> {
  let handle;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch (e) {
    if (!ignorableDirSyncError(e)) throw e;
  } finally {
    await handle?.close().catch(() => {});
  }
}

function syncDirSync(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch (e) {
    if (!ignorableDirSyncError(e)) throw e;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function ignorableDirSyncError(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'EINVAL' || code === 'ENOTSUP' || code === 'EISDIR' || code === 'EPERM' || code === 'EACCES' || code === 'EBADF';
}

const STAGING_NAME = /^\.llm-bip-tmp-(\d+)-[0-9a-f]{8}$/;

/**
 * A staging folder inside `dir` (a multi-file output is written there, then its files are renamed into
 * `dir` together; the CLI's OutputSet does this). Its name carries the pid for stale-run cleanup.
 */
export function stagingDirIn(dir: string): string {
  return join(resolve(dir), `${TEMP_MARK}-${process.pid}-${randomBytes(4).toString('hex')}`);
}

/** The pid of the run that made a staging folder called `name`, or undefined when `name` is not one. */
export function stagingDirPid(name: string): number | undefined {
  const m = STAGING_NAME.exec(basename(name));
  return m ? Number(m[1]) : undefined;
}

/**
 * Where a file being written will live once committed: a file inside a staging folder moves to the
 * staging folder's parent; any other path is final already. Records (provenance, results) store this.
 */
export function committedPathOf(path: string): string {
  const full = resolve(path);
  const folder = dirname(full);
  return stagingDirPid(folder) === undefined ? full : join(dirname(folder), basename(full));
}
