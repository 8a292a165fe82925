/** bin.ts plus the test commands: the same runCli and signal handling, spawned by main.spawn.test.ts. */
import { builtinCommands } from './commands/index.js';
import { runCli } from './main.js';
import { fakeCommands } from './fake-commands.testutil.js';

process.exitCode = await runCli(process.argv.slice(2), {
  commands: [...builtinCommands, ...fakeCommands],
  handleSignals: true,
  interruptGraceMs: Number(process.env.LLM_BIP_TEST_GRACE_MS ?? 3000),
});
