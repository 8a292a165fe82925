/** Reading and checking option values; each failure is a UsageError that says what to type instead. */
import { existsSync, statSync } from 'node:fs';
import { parseAlign, type Align } from '@llm-bip/pipeline';
import type { CommandContext, OptionValues } from './command.js';
import { CliError, ExitCode, UsageError } from './errors.js';

export function stringOption(values: OptionValues, name: string): string | undefined {
  const v = values[name];
  if (v === undefined) return undefined;
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return v.length ? String(v[v.length - 1]) : undefined;
  return undefined;
}

export function booleanOption(values: OptionValues, name: string): boolean {
  return values[name] === true;
}

/** Comma-separated or repeated values: `--tasks boolq,piqa --tasks arc_e`. */
export function listOption(values: OptionValues, name: string): string[] | undefined {
  const v = values[name];
  if (v === undefined) return undefined;
  const raw = Array.isArray(v) ? v.map(String) : [String(v)];
  return raw.flatMap((s) => s.split(',')).map((s) => s.trim()).filter((s) => s.length > 0);
}

export function requirePositional(ctx: Pick<CommandContext, 'positionals'>, index: number, name: string, command: string, hint: string): string {
  const v = ctx.positionals[index];
  if (v === undefined || v === '') {
    throw new UsageError(`missing ${name}: ${hint}. See \`llm-bip ${command} --help\`.`);
  }
  return v;
}

/** The command's one positional argument: required, and nothing after it. */
export function soleArgument(ctx: Pick<CommandContext, 'positionals'>, name: string, command: string, hint: string): string {
  const value = requirePositional(ctx, 0, name, command, hint);
  noExtraPositionals(ctx, 1, command);
  return value;
}

export function noExtraPositionals(ctx: Pick<CommandContext, 'positionals'>, count: number, command: string): void {
  if (ctx.positionals.length > count) {
    throw new UsageError(
      `unexpected argument "${ctx.positionals[count]}": \`llm-bip ${command}\` takes ${count === 0 ? 'no' : count} positional argument${count === 1 ? '' : 's'}. See \`llm-bip ${command} --help\`.`,
    );
  }
}

/** The pruning ratio: a number strictly between 0 and 1. */
export function parseRatio(raw: string | undefined, option = '--ratio'): number {
  if (raw === undefined) {
    throw new UsageError(`missing ${option}: give the fraction of attention+MLP parameters to remove, e.g. ${option} 0.2`);
  }
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(v) || v <= 0 || v >= 1) {
    throw new UsageError(
      `${option} must be a number between 0 and 1 (exclusive), got "${raw}": e.g. ${option} 0.2 removes 20 % of the attention+MLP parameters`,
    );
  }
  return v;
}

export function parseIntOption(raw: string | undefined, option: string, fallback: number, min = 1): number {
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < min) {
    throw new UsageError(`${option} must be a whole number ≥ ${min}, got "${raw}"`);
  }
  return v;
}

/** --align: a whole number >= 1, or auto (the pipeline's resolveAlign chooses from the model's FFN widths). */
export function parseAlignOption(raw: string | undefined, fallback: Align): Align {
  if (raw === undefined) return fallback;
  const v = parseAlign(raw);
  if (v === undefined) throw new UsageError(`--align must be auto or a whole number ≥ 1 (64: GPU kernel tiles), got "${raw}"`);
  return v;
}

export function parseChoice<T extends string>(raw: string | undefined, option: string, choices: readonly T[], fallback: T): T {
  if (raw === undefined) return fallback;
  if ((choices as readonly string[]).includes(raw)) return raw as T;
  throw new UsageError(`${option} must be one of ${choices.join(', ')}; got "${raw}"`);
}

/** An input path that must exist (file or folder as asked). */
export function requireExisting(path: string, what: string, kind: 'file' | 'folder' | 'any' = 'any'): string {
  if (!existsSync(path)) {
    throw new CliError(`${what} ${path} does not exist: check the path`, ExitCode.input);
  }
  const st = statSync(path);
  if (kind === 'file' && !st.isFile()) throw new CliError(`${what} ${path} is not a file: give the path of the file itself`, ExitCode.input);
  if (kind === 'folder' && !st.isDirectory()) throw new CliError(`${what} ${path} is not a folder`, ExitCode.input);
  return path;
}

/** Levenshtein distance, for "did you mean" on unknown commands. */
export function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length]!;
}

export function closest(name: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(name, c);
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return bestD <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}
