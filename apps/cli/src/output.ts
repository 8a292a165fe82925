/**
 * Writing outputs without ever leaving a half-written file or touching anyone else's: single files go
 * through onnx-io's writeFileAtomic; a multi-file output (model + data + plan + results) is staged in
 * a hidden folder inside the target folder and moved in only when the whole command succeeded. A lock
 * file in the target folder (pid + start time) keeps two runs from mixing their files there; what a
 * killed run left behind (its lock, staging folder, temp files) is reclaimed by the next run.
 */
import { linkSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, rmdirSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { mkdir, open, rm, stat, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, resolve, sep } from 'node:path';
import { isTempName as isOnnxIoTempName, stagingDirIn, stagingDirPid, syncDir, tempNamePid, tempPathFor, writeFileAtomic as writeFileAtomicIo } from '@llm-bip/onnx-io';
import type { CleanupRegistry } from './cleanup.js';
import { CliError, ExitCode, fsError } from './errors.js';

/** The lock file a run holds in its output folder from `OutputSet.open` to `commit`/`discard`. */
export const LOCK_NAME = '.llm-bip.lock';

/** True for names this CLI creates for in-progress files and folders (tests look for leftovers with it). */
export function isTempName(name: string): boolean {
  return isOnnxIoTempName(name) || name === LOCK_NAME;
}

/**
 * Make sure `dir` exists (creating it and its parents) and that we can write into it: writes and
 * removes a probe file. Returns whether the folder was created here, the topmost folder created, and
 * every folder created (topmost first), so a failed run can remove them again if they are still empty.
 */
export async function prepareOutputDir(dir: string): Promise<{ dir: string; created: boolean; createdRoot?: string; createdDirs?: string[] }> {
  const abs = resolve(dir);
  let createdRoot: string | undefined;
  try {
    const st = await stat(abs);
    if (!st.isDirectory()) {
      throw new CliError(`output path ${dir} is a file, not a folder: choose a folder with -o`, ExitCode.output);
    }
  } catch (err) {
    if (err instanceof CliError) throw err;
    if ((err as { code?: string }).code !== 'ENOENT') throw fsError(err, dir);
    try {
      createdRoot = await mkdir(abs, { recursive: true });
    } catch (e) {
      throw outputDirError(e, dir);
    }
  }
  const probe = `${stagingDirIn(abs)}.probe`;
  try {
    const fh = await open(probe, 'wx');
    await fh.close();
    await unlink(probe);
  } catch (e) {
    await rm(probe, { force: true }).catch(() => undefined);
    throw outputDirError(e, dir);
  }
  if (createdRoot === undefined) return { dir: abs, created: false };
  const createdDirs = [createdRoot];
  for (let d = createdRoot; d !== abs; ) {
    d = join(d, abs.slice(d.length + 1).split(sep)[0]!);
    createdDirs.push(d);
  }
  return { dir: abs, created: true, createdRoot, createdDirs };
}

function outputDirError(err: unknown, dir: string): CliError {
  const code = (err as { code?: string }).code;
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
    return new CliError(
      `output folder ${dir} is not writable (${code}): choose another folder with -o, or fix its permissions`,
      ExitCode.output,
      { cause: err },
    );
  }
  return fsError(err, dir);
}

/**
 * Write `data` to `path` atomically (onnx-io's writeFileAtomic: temp file, fsync, rename, fsync the
 * folder). The temp file is registered for Ctrl-C cleanup; failures become a CliError naming `path`.
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  options: { cleanup?: CleanupRegistry; signal?: AbortSignal } = {},
): Promise<void> {
  try {
    await writeFileAtomicIo(path, data, {
      ...(options.signal ? { signal: options.signal } : {}),
      onTemp: (tmp, done) => (done ? options.cleanup?.release(tmp) : options.cleanup?.add(tmp)),
    });
  } catch (err) {
    if (err instanceof Error && err.name === 'AbortError') throw err;
    throw fsError(err, path);
  }
}

/** What a lock file says about the run holding it. */
interface LockInfo {
  pid: number;
  host: string;
  startedAt: string;
  command: string;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // alive, owned by someone else
  }
}

function readLock(path: string): LockInfo | undefined {
  try {
    const info = JSON.parse(readFileSync(path, 'utf8')) as LockInfo;
    return Number.isInteger(info.pid) ? info : undefined;
  } catch {
    return undefined;
  }
}

/** A lock is stale when its run is gone: a dead pid on this host, or an unreadable lock older than a minute. */
function lockIsStale(path: string, info: LockInfo | undefined): boolean {
  if (info) return info.host === hostname() && !processAlive(info.pid);
  const st = statSync(path, { throwIfNoEntry: false });
  return !st || Date.now() - st.mtimeMs > 60_000;
}

/**
 * Take the output folder's lock (O_EXCL create); reclaim it when its holder is dead. Throws exit 4,
 * naming the other run, when a live run holds it.
 */
function acquireLock(dir: string): string {
  const path = join(dir, LOCK_NAME);
  const mine: LockInfo = { pid: process.pid, host: hostname(), startedAt: new Date().toISOString(), command: process.argv.slice(2).join(' ') };
  for (let attempt = 0; attempt < 5; attempt++) {
    // the lock appears with its content in one step (a hard link of a written file fails with EEXIST
    // when a lock exists), so another run never reads a lock that does not yet say whose it is
    const draft = tempPathFor(path); // a killed run's draft is reclaimed like its other temp files
    try {
      writeFileSync(draft, JSON.stringify(mine), { mode: 0o644 });
      linkSync(draft, path);
      return path;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw outputDirError(e, dir);
    } finally {
      rmSync(draft, { force: true });
    }
    const info = readLock(path);
    if (!lockIsStale(path, info)) {
      const who = info ? `pid ${info.pid}${info.host !== hostname() ? ` on ${info.host}` : ''}, started ${info.startedAt}${info.command ? `: llm-bip ${info.command}` : ''}` : 'a run that is starting';
      throw new CliError(
        `another llm-bip run (${who}) is writing into ${dir}: wait for it to finish, or choose another folder with -o (if no such run exists, remove ${path})`,
        ExitCode.output,
      );
    }
    // reclaim: move the stale lock aside first, so two runs reclaiming at once cannot both win
    const aside = `${path}.stale-${process.pid}`;
    try {
      renameSync(path, aside);
    } catch {
      continue; // someone else reclaimed it: try again
    }
    const moved = readLock(aside);
    if (info && moved && (moved.pid !== info.pid || moved.startedAt !== info.startedAt)) {
      // a live run took the lock between our read and the rename: give it back
      try {
        renameSync(aside, path);
      } catch {
        // it re-created the lock already: it holds the folder either way
      }
      continue;
    }
    rmSync(aside, { force: true });
  }
  throw new CliError(`cannot take the lock ${path}: other runs keep taking it; try again`, ExitCode.output);
}

/** Remove what dead runs left in `dir`: staging folders and temp files named with a pid that is gone. */
function reclaimStale(dir: string): void {
  for (const name of readdirSync(dir)) {
    const pid = stagingDirPid(name) ?? tempNamePid(name);
    if (pid === undefined || pid === process.pid || processAlive(pid)) continue;
    rmSync(join(dir, name), { recursive: true, force: true });
  }
}

/**
 * A set of output files written together into `dir`. Files are produced in a hidden staging folder
 * inside `dir` (same file system, so the final renames are atomic) while this run holds `dir`'s lock;
 * `commit()` moves them in, `discard()` (or the cleanup registry on Ctrl-C) removes this run's staging
 * folder, its lock, and the folders it created if they are still empty. Nothing else is ever removed.
 */
export class OutputSet {
  private committed = false;

  private constructor(
    readonly dir: string,
    readonly stagingDir: string,
    private readonly lockPath: string | undefined,
    /** folders this run created for `dir`, topmost first: removed again on discard if empty */
    private readonly createdDirs: string[],
    private readonly cleanup: CleanupRegistry,
  ) {}

  /**
   * `lock: false` for a single-file output (score's JSON): its one rename cannot mix with another run's
   * files, and parallel runs writing different files into one folder stay possible.
   */
  static async open(dir: string, cleanup: CleanupRegistry, opts: { lock?: boolean } = {}): Promise<OutputSet> {
    const prepared = await prepareOutputDir(dir);
    const createdDirs = prepared.createdDirs ?? [];
    for (const d of createdDirs) cleanup.addEmptyDir(d);
    let lockPath: string | undefined;
    if (opts.lock ?? true) {
      try {
        lockPath = acquireLock(prepared.dir);
      } catch (e) {
        removeEmptyDirs(createdDirs, cleanup);
        throw e;
      }
      cleanup.add(lockPath);
    }
    reclaimStale(prepared.dir);
    const staging = stagingDirIn(prepared.dir);
    // register before creating, so a Ctrl-C between the two still removes it
    cleanup.add(staging);
    try {
      await mkdir(staging);
    } catch (e) {
      throw outputDirError(e, dir);
    }
    return new OutputSet(prepared.dir, staging, lockPath, createdDirs, cleanup);
  }

  /** Where a producer (surgery, exporter) should write output `name` before commit. */
  path(name: string): string {
    if (name.includes('/') || name.includes('\\') || name === '..' || name === '.' || name === LOCK_NAME) {
      throw new CliError(`output name "${name}" must be a plain file name`, ExitCode.failure);
    }
    return join(this.stagingDir, name);
  }

  async write(name: string, data: string | Uint8Array, signal?: AbortSignal): Promise<string> {
    signal?.throwIfAborted();
    const p = this.path(name);
    try {
      await writeFileAtomicIo(p, data);
    } catch (err) {
      throw fsError(err, join(this.dir, name));
    }
    return p;
  }

  /**
   * Move every staged file into `dir` (replacing same-named files); returns the final paths. All or
   * nothing: a replaced file is kept aside until every rename succeeded, and put back when one fails.
   * Synchronous renames, so a signal handler cannot run in the middle.
   */
  async commit(): Promise<string[]> {
    // data files before the model files that point at them
    const names = readdirSync(this.stagingDir).sort((a, b) => Number(a.endsWith('.onnx')) - Number(b.endsWith('.onnx')) || (a < b ? -1 : a > b ? 1 : 0));
    const backups = join(this.stagingDir, '.replaced'); // inside staging: never committed, removed with it
    for (const name of names) {
      if (statSync(join(this.dir, name), { throwIfNoEntry: false })?.isDirectory()) {
        throw new CliError(`cannot write ${join(this.dir, name)}: a folder of that name is in the way; move it, or choose another folder with -o`, ExitCode.output);
      }
    }
    const moved: Array<{ dest: string; from: string; backup?: string }> = [];
    let current = '';
    try {
      for (const name of names) {
        current = name;
        const dest = join(this.dir, name);
        const from = join(this.stagingDir, name);
        let backup: string | undefined;
        if (statSync(dest, { throwIfNoEntry: false })) {
          mkdirSync(backups, { recursive: true });
          backup = join(backups, name);
          renameSync(dest, backup);
        }
        moved.push({ dest, from, ...(backup ? { backup } : {}) });
        renameSync(from, dest);
      }
    } catch (err) {
      for (const m of moved.reverse()) {
        try {
          if (statSync(m.dest, { throwIfNoEntry: false }) && !statSync(m.from, { throwIfNoEntry: false })) renameSync(m.dest, m.from);
          if (m.backup) renameSync(m.backup, m.dest);
        } catch {
          // best effort: the error below names the file that failed
        }
      }
      throw fsError(err, join(this.dir, current));
    }
    await syncDir(this.dir);
    rmSync(this.stagingDir, { recursive: true, force: true });
    this.cleanup.release(this.stagingDir);
    this.releaseLock();
    for (const d of this.createdDirs) this.cleanup.release(d);
    this.committed = true;
    return [...names].sort().map((n) => join(this.dir, n));
  }

  async discard(): Promise<void> {
    if (this.committed) return;
    await rm(this.stagingDir, { recursive: true, force: true });
    this.cleanup.release(this.stagingDir);
    this.releaseLock();
    removeEmptyDirs(this.createdDirs, this.cleanup);
  }

  private releaseLock(): void {
    if (!this.lockPath) return;
    try {
      unlinkSync(this.lockPath);
    } catch {
      // gone already
    }
    this.cleanup.release(this.lockPath);
  }
}

/** Remove folders this run created, deepest first, only where they are empty (others may have written there). */
function removeEmptyDirs(dirs: string[], cleanup: CleanupRegistry): void {
  for (const d of [...dirs].reverse()) {
    try {
      rmdirSync(d);
    } catch {
      // not empty (or gone): leave it
    }
    cleanup.release(d);
  }
}
