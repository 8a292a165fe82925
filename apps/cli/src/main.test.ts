import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '@llm-bip/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { builtinCommands } from './commands/index.js';
import { ExitCode } from './errors.js';
import { isTempName } from './output.js';
import { cli } from './capture.testutil.js';

const dirs: Array<() => void> = [];
function tmp(): string {
  const t = tempDir('llm-bip-cli-');
  dirs.push(t.cleanup);
  return t.dir;
}
afterEach(() => {
  while (dirs.length) dirs.pop()!();
});

describe('argument errors', () => {
  it('unknown command: names it, suggests the closest, exit 2, nothing on stdout', async () => {
    const r = await cli(['prun', 'model.onnx']);
    expect(r.code).toBe(ExitCode.usage);
    expect(r.stderr).toBe('llm-bip: error: unknown command "prun"; did you mean `llm-bip prune`? Run `llm-bip --help` for the list of commands.\n');
    expect(r.stdout).toBe('');
  });

  it('unknown command with no close match gives no suggestion', async () => {
    const r = await cli(['frobnicate']);
    expect(r.code).toBe(ExitCode.usage);
    expect(r.stderr).toContain('unknown command "frobnicate". Run `llm-bip --help`');
    expect(r.stderr).not.toContain('did you mean');
  });

  it('plan without SCORES.json says what to give', async () => {
    const r = await cli(['plan', '--ratio', '0.2']);
    expect(r.code).toBe(ExitCode.usage);
    expect(r.stderr).toMatch(/^llm-bip: error: missing SCORES.json: give the scores file written by `llm-bip score`/);
  });

  it.each(['inspect', 'score', 'prune', 'eval', 'bench', 'prune-llm'])('%s without MODEL says what to give', async (name) => {
    const r = await cli([name]);
    expect(r.code).toBe(ExitCode.usage);
    expect(r.stderr).toMatch(/^llm-bip: error: missing MODEL: give /);
    expect(r.stderr).toContain(`llm-bip ${name} --help`);
  });

  it.each(['0', '1', '1.5', '-0.2', 'abc', '', 'NaN', 'Infinity'])('--ratio %j is refused with the valid range and an example', async (ratio) => {
    const r = await cli(['prune-llm', 'model.onnx', `--ratio=${ratio}`, '-o', 'out']);
    expect(r.code).toBe(ExitCode.usage);
    expect(r.stderr).toContain(`--ratio must be a number between 0 and 1 (exclusive), got "${ratio}"`);
    expect(r.stderr).toContain('--ratio 0.2');
  });

  it.each(['0', '1.5', 'x'])('--steps %j is refused: a whole number of rounds', async (steps) => {
    const r = await cli(['prune-llm', 'model.onnx', '--ratio', '0.2', '--steps', steps, '-o', 'out']);
    expect(r.code).toBe(ExitCode.usage);
    expect(r.stderr).toContain(`--steps must be a whole number ≥ 1, got "${steps}"`);
  });

  it('--select-criterion needs --sequential and a registered criterion', async () => {
    const alone = await cli(['prune-llm', 'model.onnx', '--ratio', '0.2', '--select-criterion', 'wanda-sp', '-o', 'out']);
    expect(alone.code).toBe(ExitCode.usage);
    expect(alone.stderr).toContain('--select-criterion chooses inside each block of the sequential pass: add --sequential');
    const unknown = await cli(['prune-llm', 'model.onnx', '--ratio', '0.2', '--sequential', '--select-criterion', 'taylor', '-o', 'out']);
    expect(unknown.code).toBe(ExitCode.usage);
    expect(unknown.stderr).toContain('--select-criterion must be one of llm-bip, wanda-sp');
  });

  it('missing --ratio is named', async () => {
    const r = await cli(['prune-llm', 'model.onnx', '-o', 'out']);
    expect(r.code).toBe(ExitCode.usage);
    expect(r.stderr).toContain('missing --ratio');
  });

  it('an unknown option points at the command help', async () => {
    const r = await cli(['prune-llm', 'model.onnx', '--ratio', '0.2', '--bogus']);
    expect(r.code).toBe(ExitCode.usage);
    expect(r.stderr).toContain("Unknown option '--bogus'");
    expect(r.stderr).toContain('`llm-bip prune-llm --help`');
  });

  it('a bad choice lists the valid ones', async () => {
    const r = await cli(['prune-llm', 'model.onnx', '--ratio', '0.2', '--criterion', 'taylor', '-o', 'o']);
    expect(r.code).toBe(ExitCode.usage);
    expect(r.stderr).toContain('--criterion must be one of llm-bip, wanda-sp, flap, magnitude, random; got "taylor"');
  });

  it('a missing model file is an input error naming the path', async () => {
    const dir = tmp();
    const r = await cli(['prune-llm', join(dir, 'nope.onnx'), '--ratio', '0.2', '-o', join(dir, 'out')]);
    expect(r.code).toBe(ExitCode.input);
    expect(r.stderr).toContain(`model ${join(dir, 'nope.onnx')} does not exist`);
    expect(existsSync(join(dir, 'out'))).toBe(false);
  });

  it('extra positionals are refused', async () => {
    const r = await cli(['report', 'a.json', 'b.json', '-o', 'r.html']);
    expect(r.code).toBe(ExitCode.usage);
    expect(r.stderr).toContain('unexpected argument "b.json"');
  });
});

describe('help and version', () => {
  it('no arguments prints the command list and exits 2; --help exits 0', async () => {
    const bare = await cli([]);
    expect(bare.code).toBe(ExitCode.usage);
    const help = await cli(['--help']);
    expect(help.code).toBe(0);
    for (const c of builtinCommands) expect(help.stdout).toContain(`  ${c.name} `);
    expect(help.stdout).not.toContain('slow-write');
    expect(bare.stdout).toBe(help.stdout);
  });

  it.each(builtinCommands.map((c) => c.name))('%s --help shows usage, every option and runnable examples', async (name) => {
    const cmd = builtinCommands.find((c) => c.name === name)!;
    for (const argv of [[name, '--help'], [name, '-h'], ['help', name]]) {
      const r = await cli(argv);
      expect(r.code).toBe(0);
      expect(r.stdout.startsWith(`Usage: llm-bip ${name} `)).toBe(true);
      for (const opt of Object.keys(cmd.options)) expect(r.stdout).toContain(`--${opt}`);
      expect(cmd.examples.length).toBeGreaterThan(0);
      expect(r.stdout).toContain('Examples:');
      for (const ex of cmd.examples) {
        expect(ex.command.startsWith(`llm-bip ${name}`)).toBe(true);
        expect(r.stdout).toContain(`  ${ex.command}\n`);
      }
    }
  });

  it('--version prints the package version', async () => {
    const r = await cli(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
    const j = await cli(['--json', '--version']);
    expect(JSON.parse(j.stdout)).toEqual({ ok: true, command: 'version', result: { version: r.stdout.trim() } });
  });
});

describe('--json', () => {
  it('success: one document {ok, command, result} on stdout, no progress on stderr', async () => {
    const dir = tmp();
    const r = await cli(['slow-write', '-o', join(dir, 'out'), '--steps', '3', '--step-ms', '1', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ ok: true, command: 'slow-write', result: { files: 3 } });
    expect(r.stderr).toBe('');
  });

  it('--json without a command is a JSON error, not the help text', async () => {
    const r = await cli(['--json']);
    expect(r.code).toBe(ExitCode.usage);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, command: null, error: { name: 'UsageError' } });
  });

  it('error: {ok: false, error: {name, message, exitCode}} on stdout, message on stderr', async () => {
    const r = await cli(['--json', 'prune-llm', 'm.onnx', '--ratio', '2', '-o', 'o']);
    expect(r.code).toBe(ExitCode.usage);
    const doc = JSON.parse(r.stdout);
    expect(doc).toEqual({ ok: false, command: 'prune-llm', error: { name: 'UsageError', message: expect.stringContaining('--ratio must be'), exitCode: 2 } });
    expect(r.stderr).toContain('llm-bip: error: --ratio must be');
  });

  it('without --json the human text goes to stdout and logs to stderr; --quiet drops the logs', async () => {
    const dir = tmp();
    const loud = await cli(['slow-write', '-o', join(dir, 'a'), '--steps', '2', '--step-ms', '1']);
    expect(loud.stdout).toBe('wrote 2 files\n');
    expect(loud.stderr).toContain('first part written');
    expect(loud.stderr).toMatch(/writing +100% +2\/2 step/);
    const quiet = await cli(['slow-write', '-o', join(dir, 'b'), '--steps', '2', '--step-ms', '1', '-q']);
    expect(quiet.stdout).toBe('wrote 2 files\n');
    expect(quiet.stderr).toBe('');
  });
});

describe('errors handled once', () => {
  it('a failing command leaves no partial output and removes the folder it created', async () => {
    const dir = tmp();
    const out = join(dir, 'new', 'out');
    const r = await cli(['fail-after-write', '-o', out]);
    expect(r.code).toBe(ExitCode.input);
    expect(r.stderr).toBe('llm-bip: error: the plan does not match the model: make a new plan with `llm-bip plan`\n');
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a failing command keeps an existing folder and its files, and adds nothing', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'keep.txt'), 'mine');
    const r = await cli(['fail-after-write', '-o', dir]);
    expect(r.code).toBe(ExitCode.input);
    expect(readdirSync(dir)).toEqual(['keep.txt']);
  });

  it('a successful multi-file command moves every file in and leaves no temp names', async () => {
    const dir = tmp();
    mkdirSync(join(dir, 'out'));
    writeFileSync(join(dir, 'out', 'part-0.txt'), 'old');
    const r = await cli(['slow-write', '-o', join(dir, 'out'), '--steps', '3', '--step-ms', '1']);
    expect(r.code).toBe(0);
    expect(readdirSync(join(dir, 'out')).sort()).toEqual(['part-0.txt', 'part-1.txt', 'part-2.txt']);
    expect(readdirSync(join(dir, 'out')).some(isTempName)).toBe(false);
  });

  it.each([
    ['OnnxDecodeError', ExitCode.input],
    ['PlanMismatchError', ExitCode.input],
    ['TokenizerMismatchError', ExitCode.input],
    ['SomethingUnexpected', ExitCode.failure],
  ])('package error %s maps to exit %i; no stack trace by default', async (name, code) => {
    const r = await cli(['throw-named', name]);
    expect(r.code).toBe(code);
    expect(r.stderr.startsWith(`llm-bip: error: model.onnx: simulated ${name}. Re-export it.`)).toBe(true);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    if (code === ExitCode.failure) expect(r.stderr).toContain('LLM_BIP_DEBUG=1');
  });

  it('LLM_BIP_DEBUG=1 adds the stack trace', async () => {
    const r = await cli(['throw-named', 'OnnxDecodeError'], { env: { LLM_BIP_DEBUG: '1' } });
    expect(r.code).toBe(ExitCode.input);
    expect(r.stderr).toMatch(/\n\s+at /);
  });

  it('a command whose package has not landed says so and exits 2', async () => {
    const r = await cli(['not-landed']);
    expect(r.code).toBe(ExitCode.usage);
    expect(r.stderr).toBe('llm-bip: error: `not-landed` is not available yet: it needs the frobnicator package, which is not in this build.\n');
  });

  it('an abort signal (Ctrl-C in-process) stops the command, removes its outputs, exit 130', async () => {
    const dir = tmp();
    const ac = new AbortController();
    const pending = cli(['slow-write', '-o', join(dir, 'out'), '--steps', '1000', '--step-ms', '5'], { signal: ac.signal });
    await new Promise((r) => setTimeout(r, 80));
    ac.abort();
    const r = await pending;
    expect(r.code).toBe(ExitCode.interrupted);
    expect(r.stderr).toContain('llm-bip: interrupted (Ctrl-C); partial outputs were removed');
    expect(readdirSync(dir)).toEqual([]);
  });
});
