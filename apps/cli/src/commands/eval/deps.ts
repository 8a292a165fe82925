/** What eval wires: the eval package, and the session helpers shared with bench and prune-llm. */
import { createScoringSession, EvalError, type ScoringSession } from '@llm-bip/eval';
import { DerivedModelFileError } from '@llm-bip/onnx-io';
import { createSession, type Session } from '@llm-bip/runtime';
import type { CommandContext } from '../../command.js';

export {
  ARGMAX_OUTPUT,
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
  TOKEN_LOGPROB_OUTPUT,
} from '@llm-bip/eval';

/** An ORT session with the EP policy; the one line saying which EP it got goes to the log. */
export function createSessionFor(onnxPath: string, ep: 'auto' | 'cuda' | 'webgpu' | 'cpu', ctx: CommandContext): Promise<Session> {
  return createSession(onnxPath, { ep, onLog: (line) => ctx.log(line) });
}

/**
 * A session for evaluation: the model plus the in-graph token scoring head (log-probs and argmaxes come
 * back instead of the whole logits tensor), with the EP policy and its log line. A model the head cannot
 * be added to (no recognisable logits output, a folder where the derived file cannot be placed) gets a
 * plain session, scored in JS with the same results (to 1e-6), and a warning says so. Release the session, then `cleanup`.
 */
export async function createScoringSessionFor(onnxPath: string, ep: 'auto' | 'cuda' | 'webgpu' | 'cpu', ctx: CommandContext): Promise<ScoringSession> {
  try {
    return await createScoringSession(onnxPath, { ep, onLog: (line) => ctx.log(line) });
  } catch (e) {
    if (!(e instanceof EvalError || e instanceof DerivedModelFileError)) throw e;
    // a warning, not a log line: it shows under --json too, and the run may be much slower
    ctx.warn(`the in-graph scoring head was not added (${e.message}); evaluating the model as it is (log-softmax in JS unless the file already has the head)`);
    return { session: await createSessionFor(onnxPath, ep, ctx), cleanup: async () => undefined };
  }
}
