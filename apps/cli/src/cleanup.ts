import { rmSync, rmdirSync } from 'node:fs';

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

  removeAll(): void {
    for (const p of this.paths) {
      try {
        rmSync(p, { recursive: true, force: true });
      } catch {
        // best effort: a path we cannot remove is reported by the caller's error already
      }
    }
    // deepest first, and never a folder that holds anything
    for (const d of [...this.emptyDirs].reverse()) {
      try {
        rmdirSync(d);
      } catch {
        // not empty, or gone
      }
    }
    this.paths.clear();
    this.emptyDirs.clear();
  }
}
