/**
 * The CLI frame: find the command, parse its options, run it with a context (signal, progress,
 * cleanup), print its result, and handle every error in one place.
 */
import { parseArgs } from 'node:util';
import { interruptSessionsOn, sessionWorkInFlight } from '@llm-bip/runtime';
import { closest } from './args.js';
import { CleanupRegistry } from './cleanup.js';
import type { Command, CommandContext, OptionSpec, OptionValues } from './command.js';
import { builtinCommands } from './commands/index.js';
import { CliError, ExitCode, InterruptedError, UsageError, toCliError } from './errors.js';
import { commandHelp, globalOptions, mainHelp } from './help.js';
import { ProgressReporter, type ProgressStream } from './progress.js';
import { cliVersion } from './version.js';

export interface CliOptions {
  /** the command table (tests add fake commands); defaults to the built-in commands */
  commands?: Command[];
  stdout?: ProgressStream;
  stderr?: ProgressStream;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** install SIGINT/SIGTERM handlers that abort the command and exit 130/143 (bin.ts does) */
  handleSignals?: boolean;
  /** aborts the command like Ctrl-C (in-process tests) */
  signal?: AbortSignal;
  /** after Ctrl-C, how long a command may take to stop before the CLI cleans up and exits anyway */
  interruptGraceMs?: number;
}

export { cliVersion };

type ParseArgsOptions = Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }>;

function toParseArgs(options: Record<string, OptionSpec>): ParseArgsOptions {
  const out: ParseArgsOptions = {};
  for (const [name, o] of Object.entries(options)) {
    out[name] = { type: o.type, ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}) };
  }
  return out;
}

function parse(args: string[], options: Record<string, OptionSpec>, helpFor: string): { values: OptionValues; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({ args, options: toParseArgs(options), allowPositionals: true, strict: true });
    return { values: values as OptionValues, positionals };
  } catch (err) {
    const msg = (err as Error).message.replace(/\. To specify a positional argument.*$/s, '').replace(/\.+\s*$/, '');
    throw new UsageError(`${msg}. See \`${helpFor} --help\`.`);
  }
}

export async function runCli(argv: string[], options: CliOptions = {}): Promise<number> {
  const stdout = options.stdout ?? process.stdout;
  const stderr = options.stderr ?? process.stderr;
  const env = options.env ?? process.env;
  const commands = options.commands ?? builtinCommands;
  const cleanup = new CleanupRegistry();
  const controller = new AbortController();
  const version = cliVersion();

  let json = argv.includes('--json');
  let commandName: string | undefined;
  let removeSignalHandlers = (): void => {};
  // Ctrl-C rejects ORT loads and runs in flight at once (they run on the runtime's host thread)
  const unbindSessions = interruptSessionsOn(controller.signal);
  let stoppedBy: 'SIGINT' | 'SIGTERM' = 'SIGINT';
  // every byte the CLI prints goes through these two (control characters from model files escaped)
  const out = (text: string): void => void stdout.write(printable(text));
  const outJson = (value: unknown): void => void stdout.write(printableJson(`${JSON.stringify(value, null, 2)}\n`));
  const err = (text: string): void => void stderr.write(printable(text));

  const reportError = (thrown: unknown): number => {
    cleanup.removeAll();
    const e = controller.signal.aborted ? new InterruptedError(stoppedBy) : toCliError(thrown);
    const stopped = e instanceof InterruptedError;
    err(`llm-bip: ${stopped ? '' : 'error: '}${e.message}\n`);
    if (env.LLM_BIP_DEBUG === '1') {
      const original = e.cause ?? thrown;
      err(`${original instanceof Error ? (original.stack ?? original.message) : String(original)}\n`);
    }
    if (json) {
      outJson({ ok: false, command: commandName ?? null, error: { name: e.name, message: e.message, exitCode: e.exitCode } });
    }
    return e.exitCode;
  };

  try {
    // global flags may come before the command; everything after it belongs to the command
    const first = argv.findIndex((a) => !a.startsWith('-'));
    const leading = first === -1 ? argv : argv.slice(0, first);
    const globals = parse(leading, globalOptions, 'llm-bip');
    json = globals.values.json === true || json;
    commandName = first === -1 ? undefined : argv[first];
    let rest = first === -1 ? [] : argv.slice(first + 1);

    if (commandName === 'help') {
      commandName = rest[0];
      rest = ['--help'];
      if (commandName === undefined) {
        stdout.write(mainHelp(commands, version));
        return ExitCode.ok;
      }
    }
    if (commandName === undefined) {
      if (globals.values.version === true) {
        stdout.write(json ? `${JSON.stringify({ ok: true, command: 'version', result: { version } })}\n` : `${version}\n`);
        return ExitCode.ok;
      }
      if (json && globals.values.help !== true) throw new UsageError('missing COMMAND: run `llm-bip --help` for the list of commands');
      stdout.write(mainHelp(commands, version));
      return globals.values.help === true ? ExitCode.ok : ExitCode.usage;
    }

    const name = commandName;
    const command = commands.find((c) => c.name === name);
    if (!command) {
      const guess = closest(name, commands.filter((c) => !c.hidden).map((c) => c.name));
      throw new UsageError(
        `unknown command "${name}"${guess ? `; did you mean \`llm-bip ${guess}\`?` : '.'} Run \`llm-bip --help\` for the list of commands.`,
      );
    }

    await command.prepare?.(rest, options.cwd ?? process.cwd());
    const parsed = parse(rest, { ...globalOptions, ...command.options }, `llm-bip ${command.name}`);
    const { json: j, quiet: q, help: h, version: _v, ...values } = parsed.values;
    json = json || j === true;
    const quiet = globals.values.quiet === true || q === true;
    if (h === true || globals.values.help === true) {
      stdout.write(commandHelp(command));
      return ExitCode.ok;
    }

    if (options.signal) {
      if (options.signal.aborted) controller.abort();
      else options.signal.addEventListener('abort', () => controller.abort(), { once: true });
    }
    if (options.handleSignals) {
      removeSignalHandlers = installSignalHandlers(controller, cleanup, stderr, options.interruptGraceMs ?? 3000, (sig) => (stoppedBy = sig));
    }

    const reporter = new ProgressReporter({ stream: stderr, enabled: !quiet && !json });
    const ctx: CommandContext = {
      values,
      positionals: parsed.positionals,
      json,
      quiet,
      signal: controller.signal,
      log: (text) => {
        if (quiet || json) return;
        reporter.clearLine();
        err(`${text}\n`);
      },
      warn: (text) => {
        reporter.clearLine();
        err(`llm-bip: warning: ${text}\n`);
      },
      progress: (opts) => reporter.start(opts),
      cleanup,
      env,
      cwd: options.cwd ?? process.cwd(),
    };

    const output = await command.run(ctx);
    if (controller.signal.aborted) throw new InterruptedError(stoppedBy);
    if (json) {
      outJson({ ok: true, command: command.name, result: output.result ?? null });
    } else if (output.text) {
      out(output.text.endsWith('\n') ? output.text : `${output.text}\n`);
    }
    return ExitCode.ok;
  } catch (err) {
    return reportError(err);
  } finally {
    removeSignalHandlers();
    unbindSessions();
    // outputs are removed and the message printed; an ORT run still computing would hold the exit
    if (options.handleSignals && controller.signal.aborted && sessionWorkInFlight()) endBySignal(stoppedBy);
  }
}

/**
 * End the process now, by the signal that stopped it (a shell reports 130 / 143), while ORT is still
 * computing on the runtime's host thread. process.exit cannot: Node joins that thread first, so exit
 * would wait for the run (minutes at 7B) and then onnxruntime-node aborts (exit 134) on the torn-down
 * thread. The default action of the signal ends every thread at once, in the kernel. Call only after
 * the synchronous cleanup.
 */
function endBySignal(sig: 'SIGINT' | 'SIGTERM'): never {
  process.removeAllListeners(sig); // back to the default action: terminate
  process.kill(process.pid, sig);
  // not reached: the signal is delivered to this process before kill returns; SIGKILL if it was not
  process.kill(process.pid, 'SIGKILL');
  throw new Error('unreachable');
}

/**
 * First Ctrl-C aborts the command's signal; the command unwinds, runCli removes its temp outputs and
 * returns 130. If it does not stop within the grace period, or on a second Ctrl-C, clean up now
 * and exit.
 */
function installSignalHandlers(
  controller: AbortController,
  cleanup: CleanupRegistry,
  stderr: ProgressStream,
  graceMs: number,
  onSignal: (sig: 'SIGINT' | 'SIGTERM') => void,
): () => void {
  let timer: NodeJS.Timeout | undefined;
  const forceExit = (e: InterruptedError, sig: 'SIGINT' | 'SIGTERM'): never => {
    cleanup.removeAll({ settleMs: 1000 });
    stderr.write(`\nllm-bip: ${e.message}\n`);
    if (sessionWorkInFlight()) endBySignal(sig);
    process.exit(e.exitCode);
  };
  // one handler per signal: the handler does not rely on the (optional) signal-name argument
  const handler = (sig: 'SIGINT' | 'SIGTERM'): void => {
    const stop = new InterruptedError(sig);
    if (controller.signal.aborted) forceExit(stop, sig);
    onSignal(sig);
    stderr.write('\nllm-bip: stopping (Ctrl-C again to stop at once)…\n');
    controller.abort();
    timer = setTimeout(() => forceExit(stop, sig), graceMs);
    timer.unref();
  };
  const onInt = (): void => handler('SIGINT');
  const onTerm = (): void => handler('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  return () => {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
    if (timer) clearTimeout(timer);
  };
}

/**
 * Escape control characters (ESC sequences, carriage returns, C1 controls) so that strings from
 * model files cannot move the cursor, retitle the terminal or hide earlier output. Newlines and
 * tabs stay.
 */
export function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/**
 * The same for JSON text: JSON.stringify escapes C0 controls already; DEL and C1 controls become
 * \u00XX escapes, so the output stays valid JSON with the same value.
 */
export function printableJson(json: string): string {
  // eslint-disable-next-line no-control-regex
  return json.replace(/[\x7f-\x9f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export { CliError, ExitCode };
