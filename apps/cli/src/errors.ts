/**
 * One error type for the CLI and one place that turns any thrown value into a message and an exit
 * code. Package errors are matched by `name` so the CLI needs no import of every error class.
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
  /** Ctrl-C */
  interrupted: 130,
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

export class InterruptedError extends CliError {
  override name = 'InterruptedError';
  constructor() {
    super('interrupted (Ctrl-C); partial outputs were removed', ExitCode.interrupted);
  }
}

/** Package error classes (by `name`) and the exit code each means. Extend as packages add errors. */
export const knownErrorExitCodes: Readonly<Record<string, ExitCodeValue>> = {
  OnnxDecodeError: ExitCode.input,
  ModelFileError: ExitCode.input,
  PlanMismatchError: ExitCode.input,
  UnsupportedGraphError: ExitCode.input,
  PatternNotFound: ExitCode.input,
  HfCheckpointError: ExitCode.input,
  SafetensorsError: ExitCode.input,
  SessionLoadError: ExitCode.input,
  EpUnavailableError: ExitCode.input,
  EvalError: ExitCode.input,
  ScoringError: ExitCode.input,
  StatisticsMismatchError: ExitCode.input,
  UnknownCriterionError: ExitCode.usage,
  CalibrationError: ExitCode.input,
  AllocationError: ExitCode.input,
  SurgeryError: ExitCode.input,
  UnsupportedModelError: ExitCode.input,
  UnrecognisedGraphError: ExitCode.input,
  RecogniseError: ExitCode.input,
  ExternalDataError: ExitCode.input,
  CheckpointError: ExitCode.input,
  ExportError: ExitCode.input,
  TokenizerMismatchError: ExitCode.input,
  TokenizerError: ExitCode.input,
  DatasetError: ExitCode.input,
  DatasetNotFoundError: ExitCode.input,
  ReportDataError: ExitCode.input,
  RuntimeError: ExitCode.failure,
  FeedValidationError: ExitCode.failure,
  SessionRunError: ExitCode.failure,
  AbortError: ExitCode.interrupted,
};

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
    const known = knownErrorExitCodes[err.name];
    if (err.name === 'AbortError') return new InterruptedError();
    if (known !== undefined) return new CliError(err.message, known, { cause: err });
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
