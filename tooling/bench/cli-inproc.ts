/** Run llm-bip CLI commands in-process (benchmarks drive the real commands, not a copy of their logic). */
import { writeFileAtomicSync } from '@llm-bip/onnx-io';
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

/** Save benchmark results as indented JSON, atomically (a killed run leaves the previous file). */
export function saveAtomic(path: string, data: unknown): void {
  writeFileAtomicSync(path, JSON.stringify(data, null, 2), { mkdir: true });
}

