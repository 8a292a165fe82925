import type { Command } from '../command.js';
import { benchCommand } from './bench/index.js';
import { dataCommand } from './data/index.js';
import { demoCommand } from './demo/index.js';
import { evalCommand } from './eval/index.js';
import { exportCommand } from './export/index.js';
import { exportGgufCommand } from './export-gguf/index.js';
import { inspectCommand } from './inspect/index.js';
import { planCommand } from './plan/index.js';
import { pruneLlmCommand } from './prune-llm/index.js';
import { pruneCommand } from './prune/index.js';
import { reportCommand } from './report/index.js';
import { scoreCommand } from './score/index.js';
import { setupCommand } from './setup/index.js';

/** In the order `llm-bip --help` lists them: the one-command pipeline first, then its steps. */
export const builtinCommands: Command[] = [
  demoCommand,
  pruneLlmCommand,
  inspectCommand,
  exportCommand,
  exportGgufCommand,
  scoreCommand,
  planCommand,
  pruneCommand,
  evalCommand,
  benchCommand,
  reportCommand,
  dataCommand,
  setupCommand,
];
