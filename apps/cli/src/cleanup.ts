import { rmSync } from 'node:fs';

/**
 * Paths a command is still writing (temp files, staging folders). On failure or Ctrl-C the CLI
 * removes them all, synchronously, so nothing half-written survives even a forced exit.
 */
export class CleanupRegistry {
  private readonly paths = new Set<string>();

  add(path: string): void {
    this.paths.add(path);
  }

  /** The path became a finished output (renamed into place) or was removed already. */
  release(path: string): void {
    this.paths.delete(path);
  }

  get pending(): string[] {
    return [...this.paths];
  }

  removeAll(): void {
    for (const p of this.paths) {
      try {
        rmSync(p, { recursive: true, force: true });
      } catch {
        // best effort: a path we cannot remove is reported by the caller's error already
      }
    }
    this.paths.clear();
  }
}
