/**
 * Run llm-bip CLI commands in-process. Only the GPU job uses it: there the point is to check the real
 * commands end to end on the device (`setup cuda`, `prune-llm --ep cuda`); the benchmarks call the
 * pipeline's functions (steps.ts).
 */
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
