/**
 * Models whose inputs have fixed dimensions (a dynamo export traced at batch 1, or at one sequence
 * length): what they fix, and the one decision of how a run adapts to them. Batches adapt (rows go
 * through in batches of the fixed size); sequence lengths cannot (a window of another length is another
 * protocol), so a run asking for other lengths is refused before any long step, naming every conflict
 * and its fix at once.
 */
import { categorisedError, type ModelProto } from '@llm-bip/onnx-io';

/** A graph input as declared: its dims are numbers when fixed, names (or nothing) when free. */
export interface DeclaredInput {
  name: string;
  shape: ReadonlyArray<number | string | null | undefined>;
}

/** The dims of input_ids a model fixes; absent when free. */
export interface FixedDims {
  batch?: number;
  seq?: number;
}

/** What a run asks of the model's inputs: rows of `seqLen` tokens, `rows` of them (tasks: any length). */
export interface InputDemand {
  /** "calibration rows", "perplexity windows", "the speed benchmark's prompt", "zero-shot task requests" */
  what: string;
  /** the option that sets the length, for the fix ("--seq-len") */
  option: string;
  /** tokens per row; undefined when rows have any length (zero-shot tasks) */
  seqLen?: number;
  /** how many rows, when the batch must divide them (calibration samples) */
  rows?: number;
  /** rows per forward pass the run wants, when it cannot change (the speed benchmark's --batch) */
  batch?: number;
}

export class FixedDimensionError extends categorisedError('FixedDimensionError', 'usage') {}

/** The graph inputs of a model with their declared dims (no weights read). */
export function declaredInputs(model: ModelProto): DeclaredInput[] {
  return (model.graph?.input ?? []).map((v) => ({
    name: v.name ?? '',
    shape: (v.type?.tensorType?.shape?.dim ?? []).map((d) => (d.dimValue !== undefined && d.dimValue !== null ? Number(d.dimValue) : (d.dimParam ?? undefined))),
  }));
}

/** The batch and sequence dims input_ids fixes (a fixed dim is a non-negative number; 0 and names are free). */
export function fixedDimsOf(inputs: readonly DeclaredInput[], inputIds: string): FixedDims {
  const shape = inputs.find((i) => i.name === inputIds)?.shape ?? [];
  const fixed = (d: unknown) => (typeof d === 'number' && d > 0 ? d : undefined);
  const batch = fixed(shape[0]);
  const seq = fixed(shape[1]);
  return { ...(batch !== undefined ? { batch } : {}), ...(seq !== undefined ? { seq } : {}) };
}

/**
 * The batch size a run uses with a model of fixed dims: the fixed batch when there is one, else
 * `requested`. Throws FixedDimensionError listing every demand the model cannot meet, with its fix.
 */
export function batchForFixedDims(dims: FixedDims, demands: readonly InputDemand[], requested: number | undefined, source = 'the model'): number | undefined {
  if (dims.batch === undefined && dims.seq === undefined) return requested;
  const problems: string[] = [];
  for (const d of demands) {
    if (dims.seq !== undefined) {
      if (d.seqLen === undefined) problems.push(`${d.what} have any length (leave them out, or re-export the model with a dynamic sequence axis)`);
      else if (d.seqLen !== dims.seq) problems.push(`${d.what} have ${d.seqLen} tokens (use ${d.option} ${dims.seq})`);
    }
    if (dims.batch !== undefined) {
      if (d.batch !== undefined && d.batch !== dims.batch) problems.push(`${d.what} run ${d.batch} rows at a time (use ${d.option === '--prompt' ? '--batch' : 'a batch of'} ${dims.batch})`);
      if (d.rows !== undefined && d.rows % dims.batch !== 0) problems.push(`${d.rows} ${d.what} do not fill batches of ${dims.batch} (use a multiple of ${dims.batch})`);
    }
  }
  if (problems.length) {
    const fixes = [dims.batch !== undefined ? `batch ${dims.batch}` : undefined, dims.seq !== undefined ? `${dims.seq} tokens` : undefined].filter(Boolean).join(', ');
    throw new FixedDimensionError(
      `${source} fixes its input_ids dims (${fixes}), and ${problems.join('; ')}. Re-exporting the model with dynamic batch and sequence axes lifts these limits.`,
    );
  }
  return dims.batch ?? requested;
}
