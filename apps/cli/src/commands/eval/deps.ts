/** What eval wires: the eval package, and the session helpers shared with bench and prune-llm. */
import { createScoringSession, type ScoringSession } from '@llm-bip/eval';
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
 * be added to (no recognisable logits output, a folder where the derived file cannot be placed, ops
 * its opset or EP rejects) gets a plain session, scored in JS with the same results (to 1e-6), and a
 * warning says so. Release the session, then `cleanup`.
 */
export async function createScoringSessionFor(onnxPath: string, ep: 'auto' | 'cuda' | 'webgpu' | 'cpu', ctx: CommandContext): Promise<ScoringSession> {
  try {
    return await createScoringSession(onnxPath, { ep, onLog: (line) => ctx.log(line) });
  } catch (e) {
    // Any failure of the head path (a graph we cannot extend, no place for the derived file, an ORT
    // build or opset that rejects the added ops) falls back to the model as it is. A model that is
    // itself broken fails in the plain session too: then that error is the one to show, with no warning.
    const session = await createSessionFor(onnxPath, ep, ctx);
    const reason = String((e as Error).message ?? e).split('\n')[0];
    // a warning, not a log line: it shows under --json too, and the run may be much slower
    ctx.warn(`the in-graph scoring head was not added (${reason}); evaluating the model as it is (log-softmax in JS unless the file already has the head)`);
    return { session, cleanup: async () => undefined };
  }
}
