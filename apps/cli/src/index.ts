/** llm-bip as a library: the CLI frame, its helpers, and the report renderer. */
export { runCli, cliVersion, type CliOptions } from './main.js';
export { CliError, UsageError, NotAvailableError, InterruptedError, ExitCode, toCliError, categoryExitCodes, errorCategory, type ErrorCategory, type ExitCodeValue } from './errors.js';
export { defineCommand, type Command, type CommandContext, type CommandOutput, type OptionSpec, type Example } from './command.js';
export { builtinCommands } from './commands/index.js';
export { writeFileAtomic, prepareOutputDir, OutputSet, isTempName } from './output.js';
export { CleanupRegistry } from './cleanup.js';
export { ProgressReporter, formatProgressLine, type ProgressTask, type ProgressOptions } from './progress.js';
export * from './report/index.js';
export { runPipeline, preflight, summaryText, type PipelineRequest } from './commands/prune-llm/index.js';
export { buildResults, scoresSection } from './commands/prune-llm/results.js';
export { dataDir } from './commands/model-input.js';
