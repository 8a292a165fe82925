/**
 * One error type for the CLI and one place that turns any thrown value into a message and an exit
 * code. Package error classes declare a `category`; the CLI maps it to an exit code, so it needs no
 * import of every error class and no table of their names.
 */
import { resolve } from 'node:path';
import { intendedPathOf } from '@llm-bip/onnx-io';

export const ExitCode = {
  ok: 0,
  /** unexpected failure (a bug, or an error no table entry knows) */
  failure: 1,
  /** bad command line, or a command whose package is not available yet */
  usage: 2,
  /** bad input: missing/corrupt model, unsupported architecture, plan/tokenizer mismatch, missing dataset */
  input: 3,
  /** cannot write the output: folder not writable, disk full */
  output: 4,
  /** Ctrl-C (SIGINT) */
  interrupted: 130,
  /** SIGTERM */
  terminated: 143,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** An error the CLI reports as-is: `message` names the problem and the fix. */
export class CliError extends Error {
  override name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: ExitCodeValue = ExitCode.failure,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** The category whose exit code this error carries (undefined for 1 and 130). */
  get category(): ErrorCategory | undefined {
    return (Object.keys(categoryExitCodes) as ErrorCategory[]).find((c) => c !== 'runtime' && categoryExitCodes[c] === this.exitCode);
  }
}

export class UsageError extends CliError {
  override name = 'UsageError';
  constructor(message: string) {
    super(message, ExitCode.usage);
  }
}

/** Thrown by a command whose package functions have not landed yet. */
export class NotAvailableError extends CliError {
  override name = 'NotAvailableError';
  constructor(command: string, needs: string) {
    super(`\`${command}\` is not available yet: it needs ${needs}, which is not in this build.`, ExitCode.usage);
  }
}

/** The run was stopped by Ctrl-C (SIGINT, exit 130) or SIGTERM (exit 143). */
export class InterruptedError extends CliError {
  override name = 'InterruptedError';
  constructor(signal: 'SIGINT' | 'SIGTERM' = 'SIGINT') {
    super(
      signal === 'SIGTERM' ? 'terminated (SIGTERM); partial outputs were removed' : 'interrupted (Ctrl-C); partial outputs were removed',
      signal === 'SIGTERM' ? ExitCode.terminated : ExitCode.interrupted,
    );
  }
}

/**
 * What a package error is, declared by its class as `readonly category` (no shared base package:
 * the CLI reads the property by name). The exit code follows from the category alone.
 */
export type ErrorCategory = 'usage' | 'input' | 'output' | 'runtime';

/** Exit code for each error category; apps/cli/README.md documents this table (a test checks). */
export const categoryExitCodes: Readonly<Record<ErrorCategory, ExitCodeValue>> = {
  usage: ExitCode.usage,
  input: ExitCode.input,
  output: ExitCode.output,
  // ORT failing inside a run, or feeds our own code built wrongly: not the user's input
  runtime: ExitCode.failure,
};

/** The category an error declares, or undefined (a plain Error, or a class that forgot it). */
export function errorCategory(err: unknown): ErrorCategory | undefined {
  const c = (err as { category?: unknown } | null | undefined)?.category;
  return typeof c === 'string' && Object.hasOwn(categoryExitCodes, c) ? (c as ErrorCategory) : undefined;
}

/** Node fs error codes worth a plain-words message. */
const fsMessages: Record<string, { exit: ExitCodeValue; text: (path: string) => string }> = {
  ENOENT: { exit: ExitCode.input, text: (p) => `${p} does not exist: check the path` },
  EACCES: { exit: ExitCode.output, text: (p) => `permission denied on ${p}: choose a folder you can write to, or fix its permissions` },
  EPERM: { exit: ExitCode.output, text: (p) => `operation not permitted on ${p}: choose a folder you can write to, or fix its permissions` },
  EROFS: { exit: ExitCode.output, text: (p) => `${p} is on a read-only file system: choose another output folder with -o` },
  ENOSPC: { exit: ExitCode.output, text: (p) => `disk full while writing ${p}: free some space or choose another output folder with -o` },
  EDQUOT: { exit: ExitCode.output, text: (p) => `disk quota exceeded while writing ${p}: free some space or choose another output folder with -o` },
  ENOTDIR: { exit: ExitCode.output, text: (p) => `a part of ${p} is a file, not a folder: choose another path` },
  EISDIR: { exit: ExitCode.input, text: (p) => `${p} is a folder, but a file was expected: give the file's path` },
};

interface NodeErrorLike {
  code?: unknown;
  path?: unknown;
  message?: unknown;
}

/** Turn anything thrown into a CliError (keeping the original as `cause` for LLM_BIP_DEBUG). */
export function toCliError(err: unknown): CliError {
  if (err instanceof CliError) return err;
  if (err instanceof Error) {
    // AbortError is the platform's (DOMException), not ours: matched by name
    if (err.name === 'AbortError') return new InterruptedError();
    const category = errorCategory(err);
    if (category !== undefined) return new CliError(err.message, categoryExitCodes[category], { cause: err });
    const code = (err as NodeErrorLike).code;
    if (typeof code === 'string' && fsMessages[code]) {
      // a temp or staged file is named as the file it was about to become
      const path = typeof (err as NodeErrorLike).path === 'string' ? shownPath(String((err as NodeErrorLike).path)) : 'a file (the system did not say which)';
      const entry = fsMessages[code]!;
      return new CliError(entry.text(path), entry.exit, { cause: err });
    }
    return new CliError(
      `${err.message || err.name} (unexpected; set LLM_BIP_DEBUG=1 for the stack trace, and report it if it looks like a bug)`,
      ExitCode.failure,
      { cause: err },
    );
  }
  return new CliError(`unexpected failure: ${String(err)}`, ExitCode.failure);
}

/** A temp or staged file named as the file it is about to become; any other path as given. */
function shownPath(path: string): string {
  const intended = intendedPathOf(path);
  return intended === resolve(path) ? path : intended;
}

/** Map an fs error met while working on `path` to a CliError with a plain message; rethrow others. */
export function fsError(err: unknown, path: string): CliError {
  const code = (err as NodeErrorLike | undefined)?.code;
  if (typeof code === 'string' && fsMessages[code]) {
    const entry = fsMessages[code]!;
    return new CliError(entry.text(shownPath(path)), entry.exit, { cause: err });
  }
  return toCliError(err);
}
