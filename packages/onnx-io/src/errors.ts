/**
 * What kind of failure an error is. Every package's error classes declare one, and the CLI derives its
 * exit code from it (usage 2, input 3, output 4, runtime 1), so no table of class names can drift.
 */
export type ErrorCategory = 'usage' | 'input' | 'output' | 'runtime';

/**
 * The base of a package error class with its name and category, declared in one line:
 * `export class SafetensorsError extends categorisedError('SafetensorsError', 'input') {}`.
 * Subclasses override `name` (and `category` where it differs).
 */
export function categorisedError(name: string, category: ErrorCategory) {
  return class extends Error {
    override name = name;
    readonly category: ErrorCategory = category;
  };
}
