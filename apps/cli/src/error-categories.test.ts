/**
 * Exit codes follow from error classes: every exported error class of every package declares a
 * category, the CLI maps each category to the exit code apps/cli/README.md documents.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as evalPkg from '@llm-bip/eval';
import * as ggufPkg from '@llm-bip/gguf';
import * as modelPkg from '@llm-bip/model';
import * as onnxIo from '@llm-bip/onnx-io';
import * as runtimePkg from '@llm-bip/runtime';
import * as scoringPkg from '@llm-bip/scoring';
import * as surgeryPkg from '@llm-bip/surgery';
import * as cliPkg from './index.js';
import * as tokenizerCheck from './commands/tokenizer-check.js';
import { CliError, ExitCode, categoryExitCodes, errorCategory, toCliError, type ErrorCategory } from './errors.js';

const packages: Record<string, Record<string, unknown>> = {
  '@llm-bip/eval': evalPkg,
  '@llm-bip/gguf': ggufPkg,
  '@llm-bip/model': modelPkg,
  '@llm-bip/onnx-io': onnxIo,
  '@llm-bip/runtime': runtimePkg,
  '@llm-bip/scoring': scoringPkg,
  '@llm-bip/surgery': surgeryPkg,
  '@llm-bip/cli': { ...cliPkg, ...tokenizerCheck },
};

type ErrorClass = new (...args: unknown[]) => Error;

const errorClasses = Object.entries(packages).flatMap(([pkg, exports]) =>
  Object.entries(exports)
    .filter(([, v]) => typeof v === 'function' && (v as { prototype?: unknown }).prototype instanceof Error)
    .map(([name, v]) => ({ pkg, name, Cls: v as ErrorClass })),
);

/** An instance, whatever the constructor's arguments (strings, or a list for UnsupportedGraphError). */
function instance(Cls: ErrorClass): Error {
  try {
    return new Cls('a message');
  } catch {
    return new Cls([]);
  }
}

describe('error categories', () => {
  it('finds the error classes of every package', () => {
    const names = errorClasses.map((c) => c.name);
    for (const expected of ['OnnxDecodeError', 'UnsafeExternalDataError', 'SafetensorsError', 'SessionRunError', 'ScoringError', 'SurgeryError', 'DatasetError', 'ReportDataError', 'TokenizerMismatchError', 'GgufError', 'GgufExportError']) {
      expect(names).toContain(expected);
    }
  });

  it.each(errorClasses.map((c) => [`${c.pkg} ${c.name}`, c] as const))('%s declares a category the CLI maps', (_, { Cls }) => {
    const err = instance(Cls);
    if (err instanceof CliError) {
      // CLI errors carry their exit code; it must be one of the documented ones
      expect(Object.values(ExitCode)).toContain(err.exitCode);
      return;
    }
    const category = errorCategory(err);
    expect(category, `${Cls.name} has no \`readonly category\``).toBeDefined();
    expect(toCliError(err).exitCode).toBe(categoryExitCodes[category!]);
    expect(toCliError(err).message).toBe(err.message); // as-is, not "unexpected"
  });

  it('UnsafeExternalDataError is bad input (exit 3), SessionRunError a runtime failure (exit 1)', () => {
    expect(toCliError(new onnxIo.UnsafeExternalDataError('x')).exitCode).toBe(ExitCode.input);
    expect(toCliError(new runtimePkg.SessionRunError('x')).exitCode).toBe(ExitCode.failure);
    expect(toCliError(new scoringPkg.UnknownCriterionError('x')).exitCode).toBe(ExitCode.usage);
  });

  it('an error without a category is reported as unexpected (exit 1)', () => {
    const e = toCliError(new Error('boom'));
    expect(e.exitCode).toBe(ExitCode.failure);
    expect(e.message).toContain('unexpected');
  });

  it("apps/cli/README.md's exit-code table matches the category mapping", () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const rows = [...readme.matchAll(/^\|\s*(\d+)\s*\|[^|\n]*\|([^|\n]*)\|\s*$/gm)];
    const documented = new Map<ErrorCategory, number>();
    for (const [, code, cats] of rows) {
      for (const m of cats!.matchAll(/`(\w+)`/g)) documented.set(m[1] as ErrorCategory, Number(code));
    }
    expect(Object.fromEntries(documented)).toEqual(categoryExitCodes);
    for (const code of Object.values(ExitCode)) expect(rows.map((r) => Number(r[1]))).toContain(code);
  });
});
