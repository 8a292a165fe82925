/** Run llm-bip CLI commands in-process (benchmarks drive the real commands, not a copy of their logic). */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { runCli } from '../../apps/cli/src/main.js';

/** Run one CLI command in-process and return its --json result. */
export async function cli(args: string[]): Promise<any> {
  let out = '';
  let err = '';
  const sink = (append: (s: string) => void) => ({ write: (s: string) => (append(s), true), isTTY: false });
  const code = await runCli([...args, '--json'], {
    stdout: sink((s) => (out += s)) as never,
    stderr: sink((s) => (err += s)) as never,
  });
  if (code !== 0) throw new Error(`llm-bip ${args.join(' ')} failed (exit ${code}): ${out}${err}`);
  const doc = JSON.parse(out);
  return doc.result ?? doc;
}

export function saveAtomic(path: string, data: unknown): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(`${path}.tmp`, JSON.stringify(data, null, 2));
  renameSync(`${path}.tmp`, path);
}

