/**
 * Writing outputs without ever leaving a half-written file: every file is written to a temp name in
 * its final folder and renamed into place; a multi-file output (model + data + plan + results) is
 * staged in a hidden folder and moved in only when the whole command succeeded.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, rm, rmdir, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { CleanupRegistry } from './cleanup.js';
import { CliError, ExitCode, fsError } from './errors.js';

const TEMP_MARK = '.llm-bip-tmp-';

function tempName(): string {
  return `${TEMP_MARK}${process.pid}-${randomBytes(4).toString('hex')}`;
}

/** True for names this module creates for in-progress files (tests look for leftovers with it). */
export function isTempName(name: string): boolean {
  return name.includes(TEMP_MARK);
}

/**
 * Make sure `dir` exists (creating it and its parents) and that we can write into it: writes and
 * removes a probe file. Returns whether the folder was created here, and the topmost folder created (so a failed run can
 * remove what it made).
 */
export async function prepareOutputDir(dir: string): Promise<{ dir: string; created: boolean; createdRoot?: string }> {
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
  const probe = join(abs, `${tempName()}.probe`);
  try {
    const fh = await open(probe, 'wx');
    await fh.close();
    await unlink(probe);
  } catch (e) {
    await rm(probe, { force: true }).catch(() => undefined);
    throw outputDirError(e, dir);
  }
  return createdRoot === undefined ? { dir: abs, created: false } : { dir: abs, created: true, createdRoot };
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
 * Write `data` to `path` atomically: temp file in the same folder, fsync, rename. On any failure
 * (including ENOSPC) the temp file is removed and a CliError names the problem.
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  options: { cleanup?: CleanupRegistry; signal?: AbortSignal } = {},
): Promise<void> {
  options.signal?.throwIfAborted();
  const abs = resolve(path);
  const tmp = join(dirname(abs), `${tempName()}-${basename(abs)}`);
  options.cleanup?.add(tmp);
  try {
    const fh = await open(tmp, 'wx');
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    options.signal?.throwIfAborted();
    await rename(tmp, abs);
    options.cleanup?.release(tmp);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => undefined);
    options.cleanup?.release(tmp);
    if (err instanceof Error && err.name === 'AbortError') throw err;
    throw fsError(err, path);
  }
}

/**
 * A set of output files written together into `dir`. Files are produced in a hidden staging folder
 * inside `dir` (same file system, so the final renames are atomic); `commit()` moves them in,
 * `discard()` (or the cleanup registry on Ctrl-C) removes everything, including `dir` if this run
 * created it and it is empty.
 */
export class OutputSet {
  private committed = false;

  private constructor(
    readonly dir: string,
    readonly stagingDir: string,
    /** topmost folder this run created for `dir`, removed again on discard */
    private readonly createdRoot: string | undefined,
    private readonly cleanup: CleanupRegistry,
  ) {}

  static async open(dir: string, cleanup: CleanupRegistry): Promise<OutputSet> {
    const prepared = await prepareOutputDir(dir);
    const staging = join(prepared.dir, tempName());
    // register before creating, so a Ctrl-C between the two still removes it
    if (prepared.createdRoot) cleanup.add(prepared.createdRoot);
    cleanup.add(staging);
    try {
      await mkdir(staging);
    } catch (e) {
      throw outputDirError(e, dir);
    }
    return new OutputSet(prepared.dir, staging, prepared.createdRoot, cleanup);
  }

  /** Where a producer (surgery, exporter) should write output `name` before commit. */
  path(name: string): string {
    if (name.includes('/') || name.includes('\\') || name === '..' || name === '.') {
      throw new CliError(`output name "${name}" must be a plain file name`, ExitCode.failure);
    }
    return join(this.stagingDir, name);
  }

  async write(name: string, data: string | Uint8Array, signal?: AbortSignal): Promise<string> {
    signal?.throwIfAborted();
    const p = this.path(name);
    try {
      const fh = await open(p, 'w');
      try {
        await fh.writeFile(data);
        await fh.sync();
      } finally {
        await fh.close();
      }
    } catch (err) {
      throw fsError(err, join(this.dir, name));
    }
    return p;
  }

  /** Move every staged file into `dir` (replacing same-named files); returns the final paths. */
  async commit(): Promise<string[]> {
    const names = (await readdir(this.stagingDir)).sort();
    const finals: string[] = [];
    for (const name of names) {
      const dest = join(this.dir, name);
      try {
        await rename(join(this.stagingDir, name), dest);
      } catch (err) {
        throw fsError(err, dest);
      }
      finals.push(dest);
    }
    await rmdir(this.stagingDir);
    this.cleanup.release(this.stagingDir);
    if (this.createdRoot) this.cleanup.release(this.createdRoot);
    this.committed = true;
    return finals;
  }

  async discard(): Promise<void> {
    if (this.committed) return;
    await rm(this.stagingDir, { recursive: true, force: true });
    this.cleanup.release(this.stagingDir);
    if (this.createdRoot) {
      await rm(this.createdRoot, { recursive: true, force: true });
      this.cleanup.release(this.createdRoot);
    }
  }
}
