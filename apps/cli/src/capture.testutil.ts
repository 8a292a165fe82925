/** Run the CLI in-process with captured stdout/stderr. */
import { builtinCommands } from './commands/index.js';
import { runCli, type CliOptions } from './main.js';
import { fakeCommands } from './fake-commands.testutil.js';

export interface Captured {
  code: number;
  stdout: string;
  stderr: string;
}

export async function cli(argv: string[], options: Omit<CliOptions, 'stdout' | 'stderr'> & { tty?: boolean } = {}): Promise<Captured> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(argv, {
    commands: [...builtinCommands, ...fakeCommands],
    ...options,
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s), isTTY: options.tty ?? false },
  });
  return { code, stdout, stderr };
}
