/**
 * What a command is: a name, its options (with help text), examples, and a `run` that calls
 * package functions. The frame (main.ts) parses arguments, builds the context, prints the result
 * and handles every error, so a command stays a few lines of wiring.
 */
import type { CleanupRegistry } from './cleanup.js';
import type { ProgressOptions, ProgressTask } from './progress.js';

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  /** placeholder in help, e.g. "FILE" */
  value?: string;
  description: string;
  /** shown in help; the command applies it (parseArgs defaults would hide "was it given?") */
  defaultText?: string;
}

export interface Example {
  command: string;
  /** one line saying what it does */
  explain: string;
}

export type OptionValues = Record<string, string | boolean | string[] | boolean[] | undefined>;

export interface CommandContext {
  /** the command's own options (global ones removed) */
  values: OptionValues;
  positionals: string[];
  json: boolean;
  quiet: boolean;
  /** aborted on Ctrl-C: pass it to every long step */
  signal: AbortSignal;
  /** informational line on stderr; silent under --quiet and --json */
  log(text: string): void;
  /** warning on stderr; shown even under --quiet */
  warn(text: string): void;
  /** a progress task on stderr (a no-op under --quiet and --json) */
  progress(opts: ProgressOptions): ProgressTask;
  /** temp paths to remove when the command fails or is interrupted */
  cleanup: CleanupRegistry;
  env: NodeJS.ProcessEnv;
  cwd: string;
}

export interface CommandOutput {
  /** the machine-readable result: printed as the JSON document under --json */
  result: unknown;
  /** human output on stdout (without --json) */
  text?: string;
}

export interface Command {
  name: string;
  /** one line, shown in the command list */
  summary: string;
  /** usage line after "llm-bip NAME", e.g. "MODEL --ratio R -o DIR [options]" */
  usage: string;
  /** paragraphs shown under the usage line */
  description?: string;
  options: Record<string, OptionSpec>;
  examples: Example[];
  /** hidden from the command list (test helpers) */
  hidden?: boolean;
  /**
   * Runs on the raw arguments before they are parsed, e.g. to load --plugin modules whose criterion
   * options then appear in `options` (read after this) and in --help.
   */
  prepare?(args: string[], cwd: string): Promise<void>;
  run(ctx: CommandContext): Promise<CommandOutput>;
}

export function defineCommand(command: Command): Command {
  return command;
}
