/**
 * The CLI as a real process: exit codes, stderr, and Ctrl-C (SIGINT) during a long step. Spawns
 * `node --conditions=source --import tsx` on bin.ts (and on fake-bin.testutil.ts, which is bin.ts
 * plus the test commands).
 */
import { chmodSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '@llm-bip/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { isTempName } from './output.js';
import { sampleReport } from './sample-report.testutil.js';
import { BIN, FAKE_BIN, startCli as start, waitFor } from './spawn.testutil.js';

const cleanups: Array<() => void> = [];
afterEach(() => {
  while (cleanups.length) cleanups.pop()!();
});
function tmp(): string {
  const t = tempDir('llm-bip-spawn-');
  cleanups.push(t.cleanup);
  return t.dir;
}

describe('llm-bip as a process', () => {
  it('--help exits 0 and lists the commands; an unknown command exits 2 with one error line', async () => {
    const help = await start(BIN, ['--help']).done;
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('prune-llm');
    const bad = await start(BIN, ['prun']).done;
    expect(bad.code).toBe(2);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toBe('llm-bip: error: unknown command "prun"; did you mean `llm-bip prune`? Run `llm-bip --help` for the list of commands.\n');
  });

  it('an output folder without write permission: exit 4, the problem and the fix, no file', async () => {
    const dir = tmp();
    const ro = join(dir, 'ro');
    mkdirSync(ro);
    chmodSync(dir, 0o755);
    chmodSync(ro, 0o555);
    const results = join(dir, 'results.json');
    writeFileSync(results, JSON.stringify(sampleReport(2)));
    // root writes anywhere: run as "nobody" when we are root
    const as = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
    const r = await start(BIN, ['report', results, '-o', join(ro, 'report.html')], { HOME: dir }, as).done;
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/^llm-bip: error: permission denied on .*report\.html: choose a folder you can write to, or fix its permissions\n$/);
    expect(readdirSync(ro)).toEqual([]);
  });

  it('Ctrl-C during a long step: exit 130, staged files and the created folder removed', async () => {
    const dir = tmp();
    const out = join(dir, 'out');
    const run = start(FAKE_BIN, ['slow-write', '-o', out, '--steps', '100000', '--step-ms', '10']);
    await waitFor(() => run.stderr().includes('first part written'), 'the first staged file');
    expect(existsSync(out)).toBe(true);
    run.child.kill('SIGINT');
    const r = await run.done;
    expect(r.code).toBe(130);
    expect(r.stderr).toContain('llm-bip: interrupted (Ctrl-C); partial outputs were removed');
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('Ctrl-C keeps a folder that existed, with its files, and leaves no temp names', async () => {
    const dir = tmp();
    mkdirSync(join(dir, 'out'));
    writeFileSync(join(dir, 'out', 'earlier.txt'), 'keep me');
    const run = start(FAKE_BIN, ['slow-write', '-o', join(dir, 'out'), '--steps', '100000', '--step-ms', '10']);
    await waitFor(() => run.stderr().includes('first part written'), 'the first staged file');
    run.child.kill('SIGINT');
    const r = await run.done;
    expect(r.code).toBe(130);
    expect(readdirSync(join(dir, 'out'))).toEqual(['earlier.txt']);
  });

  it('a step that ignores the abort is stopped after the grace period, still cleaned up', async () => {
    const dir = tmp();
    const run = start(FAKE_BIN, ['slow-write', '-o', join(dir, 'out'), '--steps', '100000', '--step-ms', '10', '--ignore-abort'], { LLM_BIP_TEST_GRACE_MS: '300' });
    await waitFor(() => run.stderr().includes('first part written'), 'the first staged file');
    run.child.kill('SIGINT');
    const r = await run.done;
    expect(r.code).toBe(130);
    expect(readdirSync(dir).filter(isTempName)).toEqual([]);
    expect(readdirSync(dir)).toEqual([]);
  });
});
