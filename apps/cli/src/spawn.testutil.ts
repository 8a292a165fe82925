/** The CLI as a real process, for tests: spawn bin.ts (or a test bin) from source and collect its output. */
import { spawn } from 'node:child_process';
import { repoRoot } from '@llm-bip/testing';

export const BIN = 'apps/cli/src/bin.ts';
export const FAKE_BIN = 'apps/cli/src/fake-bin.testutil.ts';

export interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** `node --conditions=source --import tsx SCRIPT ARGS` in the repository root. */
export function startCli(script: string, args: string[], env: Record<string, string> = {}, as: { uid?: number; gid?: number } = {}) {
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', script, ...args], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...as,
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const done = new Promise<Run>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { child, done, stderr: () => stderr };
}

export async function waitFor(cond: () => boolean, what: string, ms = 20_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
