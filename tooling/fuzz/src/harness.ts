/**
 * Run the real CLI in-process on one hostile case and classify the outcome: exit 0 (success),
 * exit 2/3/4 with a one-line message (a clear error), or anything else (exit 1 "unexpected", a
 * thrown exception, a timeout: a failure). Inputs are hashed before and after: none may change.
 */
import { createHash } from 'node:crypto';
import { lstatSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../../../apps/cli/src/main.js';

export interface Outcome {
  code: number | 'threw' | 'timeout';
  stderr: string;
  inputsChanged: string[];
  ms: number;
}

/** sha256 of every file (and link target) under the given paths, without following links. */
export function hashTree(paths: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (p: string): void => {
    const st = lstatSync(p, { throwIfNoEntry: false });
    if (!st) return;
    if (st.isSymbolicLink()) out.set(p, `link:${readlinkSync(p)}`);
    else if (st.isDirectory()) for (const f of readdirSync(p).sort()) walk(join(p, f));
    else if (st.isFile()) out.set(p, createHash('sha256').update(readFileSync(p)).digest('hex') + `:${st.mode}`);
  };
  for (const p of paths) walk(p);
  return out;
}

export async function runCase(argv: string[], inputs: readonly string[], timeoutMs = 60_000): Promise<Outcome> {
  const before = hashTree(inputs);
  let stderr = '';
  const sink = { write: (s: string) => ((stderr += s), true), isTTY: false };
  const t0 = performance.now();
  let timer: NodeJS.Timeout | undefined;
  let code: Outcome['code'];
  try {
    code = await Promise.race([
      runCli(argv, { stdout: { write: () => true }, stderr: sink }),
      new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs))),
    ]);
  } catch (e) {
    code = 'threw';
    stderr += String((e as Error)?.stack ?? e);
  } finally {
    clearTimeout(timer);
  }
  const after = hashTree(inputs);
  const changed = [...new Set([...before.keys(), ...after.keys()])].filter((k) => before.get(k) !== after.get(k));
  return { code, stderr, inputsChanged: changed, ms: performance.now() - t0 };
}

/** A clear error: exit 2/3/4 and a message line that does not call itself unexpected. */
export function isClearError(o: Outcome): boolean {
  return (o.code === 2 || o.code === 3 || o.code === 4) && /^llm-bip: error: \S/m.test(o.stderr) && !/unexpected/.test(o.stderr);
}
