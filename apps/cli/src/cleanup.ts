import { existsSync, rmSync, rmdirSync } from 'node:fs';

/**
 * Paths a command is still writing (temp files, staging folders, its output lock) and folders it
 * created. On failure or Ctrl-C the CLI removes them, synchronously, so nothing half-written survives
 * even a forced exit. Only this run's own paths are removed whole; a folder it created is removed
 * only if it is empty by then (another run may have written into it meanwhile).
 */
export class CleanupRegistry {
  private readonly paths = new Set<string>();
  private readonly emptyDirs = new Set<string>();

  /** A file or folder that belongs to this run alone: removed whole. */
  add(path: string): void {
    this.paths.add(path);
  }

  /** A folder this run created: removed only if empty (add parents before their children). */
  addEmptyDir(path: string): void {
    this.emptyDirs.add(path);
  }

  /** The path became a finished output (renamed into place) or was removed already. */
  release(path: string): void {
    this.paths.delete(path);
    this.emptyDirs.delete(path);
  }

  get pending(): string[] {
    return [...this.paths, ...this.emptyDirs];
  }

  /**
   * Remove every registered path. `settleMs`: on a forced exit the step is still running, and a file
   * write it started may land in a staging folder just after that folder was emptied (the folder then
   * cannot be removed). The JS thread is blocked here, so no new write starts; retry until the paths
   * are gone or `settleMs` passed.
   */
  removeAll(opts: { settleMs?: number } = {}): void {
    const deadline = Date.now() + (opts.settleMs ?? 0);
    for (;;) {
      this.removeOnce();
      if (this.paths.size === 0 && this.emptyDirs.size === 0) return;
      if (Date.now() >= deadline) break;
      sleepSync(20);
    }
    this.paths.clear();
    this.emptyDirs.clear();
  }

  /** One pass; keeps in the sets only what is still there (for a retry). */
  private removeOnce(): void {
    for (const p of this.paths) {
      try {
        rmSync(p, { recursive: true, force: true });
      } catch {
        // best effort: a path we cannot remove is reported by the caller's error already
      }
      if (!existsSync(p)) this.paths.delete(p);
    }
    // deepest first, and never a folder that holds anything
    for (const d of [...this.emptyDirs].reverse()) {
      try {
        rmdirSync(d);
      } catch {
        // not empty, or gone
      }
      if (!existsSync(d)) this.emptyDirs.delete(d);
    }
  }
}

/** Block the JS thread (libuv's pool keeps finishing the writes already started). */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
