/** What the CLI prints is safe for a terminal, and SIGTERM ends a run with 143. */
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '@llm-bip/testing';
import { cli } from './capture.testutil.js';
import { printable } from './main.js';
import { ExitCode } from './errors.js';

const temp = tempDir('llm-bip-cli-print-');
afterAll(() => temp.cleanup());
let n = 0;
const fresh = (): string => join(temp.dir, `run-${n++}`);

describe('printing', () => {
  it('escapes control characters but keeps newlines and tabs', () => {
    expect(printable('a\tb\nc\x1b[2J\x07\r\x9b')).toBe('a\tb\nc\\x1b[2J\\x07\\x0d\\x9b');
  });

  it('--json output stays valid JSON with the same value, and carries no raw C1 control', async () => {
    const r = await cli(['throw-named', 'Evil\x1b[2J\x9b31m\x7f', '--json']);
    expect(r.stdout).not.toMatch(/[\x1b\x7f-\x9f]/);
    expect((JSON.parse(r.stdout) as { error: { message: string } }).error.message).toContain('Evil\x1b[2J\x9b31m\x7f');
  });

  it('an error message carrying escape sequences (from a model file) reaches stderr escaped', async () => {
    const r = await cli(['throw-named', 'Evil\x1b]0;pwned\x07\x1b[2J']);
    expect(r.code).toBe(ExitCode.failure);
    expect(r.stderr).not.toMatch(/[\x1b\x07]/);
    expect(r.stderr).toContain('Evil\\x1b]0;pwned\\x07\\x1b[2J');
  });
});

describe('signals', () => {
  it('SIGTERM aborts the command, removes its outputs and exits 143 (not 130)', async () => {
    const dir = fresh();
    mkdirSync(dir);
    const pending = cli(['slow-write', '-o', join(dir, 'out'), '--steps', '1000', '--step-ms', '5'], { handleSignals: true });
    await new Promise((r) => setTimeout(r, 80));
    process.emit('SIGTERM');
    const r = await pending;
    expect(r.code).toBe(ExitCode.terminated);
    expect(r.stderr).toContain('llm-bip: terminated (SIGTERM); partial outputs were removed');
    expect(readdirSync(dir)).toEqual([]);
  });
});
