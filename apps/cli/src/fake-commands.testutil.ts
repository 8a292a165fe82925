/** Commands that exist only in tests: long steps to interrupt, and a step that fails after writing. */
import { setTimeout as sleep } from 'node:timers/promises';
import { parseIntOption, stringOption } from './args.js';
import { defineCommand, type Command } from './command.js';
import { CliError, ExitCode, UsageError } from './errors.js';
import { OutputSet } from './output.js';
import { notAvailable } from './not-available.js';
import * as evalPkg from '@llm-bip/eval';
import * as modelPkg from '@llm-bip/model';
import * as onnxIo from '@llm-bip/onnx-io';
import * as runtimePkg from '@llm-bip/runtime';
import * as scoringPkg from '@llm-bip/scoring';
import * as surgeryPkg from '@llm-bip/surgery';
import { TokenizerMismatchError } from './commands/tokenizer-check.js';

const packageExports = { ...evalPkg, ...modelPkg, ...onnxIo, ...runtimePkg, ...scoringPkg, ...surgeryPkg, TokenizerMismatchError };

function outDir(values: Record<string, unknown>): string {
  const o = stringOption(values as never, 'output');
  if (!o) throw new UsageError('missing -o DIR');
  return o;
}

/** Writes one staged file per step, with a progress bar; honours the abort signal. */
export const slowWriteCommand = defineCommand({
  name: 'slow-write',
  summary: 'test: write files slowly into -o DIR',
  usage: '-o DIR [--steps N] [--step-ms MS]',
  hidden: true,
  options: {
    output: { type: 'string', short: 'o', description: 'folder' },
    steps: { type: 'string', description: 'steps' },
    'step-ms': { type: 'string', description: 'ms per step' },
    'ignore-abort': { type: 'boolean', description: 'keep going after Ctrl-C (tests the forced exit)' },
  },
  examples: [{ command: 'slow-write -o out', explain: 'test' }],
  async run(ctx) {
    const steps = parseIntOption(stringOption(ctx.values, 'steps'), '--steps', 10);
    const stepMs = parseIntOption(stringOption(ctx.values, 'step-ms'), '--step-ms', 10);
    const ignore = ctx.values['ignore-abort'] === true;
    const out = await OutputSet.open(outDir(ctx.values), ctx.cleanup);
    const bar = ctx.progress({ label: 'writing', total: steps, unit: 'step' });
    for (let i = 0; i < steps; i++) {
      await out.write(`part-${i}.txt`, `step ${i}\n`, ignore ? undefined : ctx.signal);
      if (i === 0) ctx.log('first part written');
      await sleep(stepMs, undefined, ignore ? {} : { signal: ctx.signal });
      bar.advance();
    }
    bar.finish();
    const files = await out.commit();
    return { result: { files: files.length }, text: `wrote ${files.length} files` };
  },
});

/** Writes two staged files, then fails like a bad input would. */
export const failAfterWriteCommand = defineCommand({
  name: 'fail-after-write',
  summary: 'test: stage two files, then fail',
  usage: '-o DIR',
  hidden: true,
  options: { output: { type: 'string', short: 'o', description: 'folder' } },
  examples: [{ command: 'fail-after-write -o out', explain: 'test' }],
  async run(ctx) {
    const out = await OutputSet.open(outDir(ctx.values), ctx.cleanup);
    await out.write('model.onnx', new Uint8Array(1024));
    await out.write('plan.json', '{}');
    throw new CliError('the plan does not match the model: make a new plan with `llm-bip plan`', ExitCode.input);
  },
});

/** Throws a package-style error class by name (to test the exit-code table). */
export const throwNamedCommand = defineCommand({
  name: 'throw-named',
  summary: 'test: throw an Error subclass with the given name',
  usage: 'NAME',
  hidden: true,
  options: {},
  examples: [{ command: 'throw-named OnnxDecodeError', explain: 'test' }],
  async run(ctx) {
    const name = ctx.positionals[0] ?? 'Error';
    const message = `model.onnx: simulated ${name}. Re-export it.`;
    // a real class when some package exports one by that name (its category decides the exit code)
    const Cls = (packageExports as Record<string, unknown>)[name];
    if (typeof Cls === 'function' && Cls.prototype instanceof Error) throw new (Cls as new (m: string) => Error)(message);
    const err = new Error(message);
    err.name = name;
    throw err;
  },
});

/** A command whose package functions have not landed. */
export const notLandedCommand = defineCommand({
  name: 'not-landed',
  summary: 'test: needs a package that is not there',
  usage: '',
  hidden: true,
  options: {},
  examples: [{ command: 'not-landed', explain: 'test' }],
  async run() {
    return notAvailable('not-landed', 'the frobnicator package');
  },
});

export const fakeCommands: Command[] = [slowWriteCommand, failAfterWriteCommand, throwNamedCommand, notLandedCommand];
