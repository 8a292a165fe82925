/** What eval wires: the eval package, and one session helper shared with bench and prune-llm. */
import { createSession, type Session } from '@llm-bip/runtime';
import type { CommandContext } from '../../command.js';

export {
  buildReport,
  evaluatePerplexity,
  evaluateTasks,
  formatReport,
  loadTextDataset,
  loadTokenizer,
  locatePerplexitySet,
  type PerplexityResult,
  type TaskName,
  type TasksResult,
} from '@llm-bip/eval';

/** An ORT session with the EP policy; the one line saying which EP it got goes to the log. */
export function createSessionFor(onnxPath: string, ep: 'auto' | 'cuda' | 'webgpu' | 'cpu', ctx: CommandContext): Promise<Session> {
  return createSession(onnxPath, { ep, onLog: (line) => ctx.log(line) });
}
