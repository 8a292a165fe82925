/**
 * Perplexity and zero-shot tasks block by block: the model with its scoring head is cut into segments by scoring's
 * partitioner (ProbeBlocks: the embedding, runs of decoder blocks, the head in the last segment) and
 * run by scoring's SegmentRunner, one ORT session at a time, the hidden states of the windows carried
 * on the host. The head's per-position log-probabilities come out of the last segment, so the NLLs
 * are reduced exactly as in the whole-model session.
 *
 * Batches go in passes: every batch of a pass through segment k, then through k+1. A pass holds the
 * hidden states of its sequences on the host (tokens x hidden x 4 bytes at most), so its tokens are
 * capped by a quarter of the budget (windowsPerPass windows of seqLen); each further pass creates every
 * segment's session again.
 */
import { addTokenScoringHead, EvalError, headBytesPerWindow, TARGETS_INPUT, ARGMAX_OUTPUT, TOKEN_LOGPROB_OUTPUT, type BatchScorer, type BatchScoring, type TargetBatch } from '@llm-bip/eval';
import { loadModel, mostlyHalfPrecision, tensorByteLength, toNumber } from '@llm-bip/onnx-io';
import { fixedDimsOf, recogniseModel, type DeclaredInput, type ModelSpec } from '@llm-bip/model';
import { inputsOfModel } from './input-demands.js';
import { int64Tensor, resolveEp, type EpChoice, type ExecutionProvider, type OrtTensor } from '@llm-bip/runtime';
import {
  describeSegment,
  formatBytes,
  hiddenStateBytes,
  probeFeeds,
  ProbeBlocks,
  resolveBudget,
  scheduleByBudget,
  scheduleByCount,
  SegmentRunner,
  wholeModelBytes,
  type BlockSchedule,
  type MemoryBudget,
} from '@llm-bip/scoring';

export interface BlockwiseEvalOptions {
  ep: EpChoice;
  /** device memory evaluation may use (bytes or auto); over the whole model's estimate, block by block */
  maxDeviceMemory?: MemoryBudget;
  /** block by block with this many decoder blocks per session, whatever the budget */
  blocksPerSession?: number;
  /** windows per forward pass and their length, for the activation estimate */
  batchWindows: number;
  seqLen: number;
  /** windows per pass (default: windowsPerPass from the budget; tests force several passes) */
  passWindows?: number;
  onLog?: (line: string) => void;
  signal?: AbortSignal;
}

/** How evaluation runs the model: whole in one session, or block by block with its schedule. */
export type EvalExecution =
  | { mode: 'whole'; reason: string }
  | {
      mode: 'blockwise';
      reason: string;
      /** its `batch`: windows per run, below the asked batchWindows when the budget lowered it */
      schedule: BlockSchedule;
      scoring: BatchScoring;
      /** the EP the segments ran on, once they have */
      ep: () => string | undefined;
      /** CUDA: the device memory the process held after each segment of the first pass (SegmentHooks.onSegmentDone) */
      measured: ReadonlyArray<number | undefined>;
    };

/** Why a model cannot be evaluated block by block, and what to do instead. */
function evalRefusal(why: string): EvalError {
  return new EvalError(
    `this model cannot be evaluated block by block: ${why}. Block-by-block evaluation needs every block's input as a tensor of its own (our exporter, the torch.onnx exporters); evaluate it whole: leave out --max-device-memory.`,
  );
}

/** The model loaded with its scoring head and recognised, for deciding and running block by block. */
export interface BlockwiseModel {
  spec: ModelSpec;
  /** the logits' vocabulary, when the graph states it */
  vocab?: number;
  /** the graph's declared inputs (fixed dims) */
  inputs: DeclaredInput[];
  halfWeights: boolean;
  runner: () => SegmentRunner;
  /** bytes of every initializer (the whole model's weights) */
  weightBytes: number;
}

export async function loadBlockwiseModel(modelPath: string): Promise<BlockwiseModel> {
  const loaded = await loadModel(modelPath);
  const spec = recogniseModel(loaded.model, { modelDir: loaded.dir, source: loaded.path });
  const halfWeights = mostlyHalfPrecision(loaded.model);
  const inputs = inputsOfModel(loaded.model);
  const { logits } = addTokenScoringHead(loaded.model);
  const dims = loaded.model.graph?.output?.find((o) => o.name === logits)?.type?.tensorType?.shape?.dim ?? [];
  const last = dims.at(-1)?.dimValue;
  const vocab = last === undefined || last === null ? undefined : toNumber(last) > 0 ? toNumber(last) : undefined;
  let runner: SegmentRunner | undefined;
  return {
    spec,
    ...(vocab !== undefined ? { vocab } : {}),
    inputs,
    halfWeights,
    weightBytes: (loaded.model.graph?.initializer ?? []).reduce((a, t) => a + tensorByteLength(t), 0),
    // the block analysis refuses graphs it cannot cut, so it runs only when block by block is chosen
    runner: () => (runner ??= new SegmentRunner(loaded.model, loaded.dir, new ProbeBlocks(loaded.model, spec, evalRefusal))),
  };
}

/**
 * Whole or block by block, decided before any session is made: whole without a budget or when the
 * whole model's estimate (weights + one block's activations) fits it; else segments sized to the
 * budget (a budget below one block is refused with the size it needs). `auto`: the device's free memory.
 */
export function planEvaluation(m: BlockwiseModel, opts: BlockwiseEvalOptions): EvalExecution {
  if (opts.maxDeviceMemory === undefined && opts.blocksPerSession === undefined) return { mode: 'whole', reason: 'no memory budget given' };
  const fixed = fixedDimsOf(m.inputs, m.spec.inputs.inputIds).batch !== undefined;
  // the last segment runs the scoring head: the logits and the head's float32 copies of them
  const head = headBytesPerWindow(m.vocab ?? m.spec.vocabSize, opts.seqLen);
  const input = (weights: { embedding: number; blocks: number[] }, ep: ExecutionProvider) => ({ spec: m.spec, weights, batch: opts.batchWindows, seqLen: opts.seqLen, ep, headBytesPerRow: head, batchFixed: fixed });
  let schedule: BlockSchedule;
  let reason: string;
  if (opts.blocksPerSession !== undefined) {
    schedule = scheduleByCount(input(m.runner().blocks.weightBytes(), resolveEp(opts.ep)), opts.blocksPerSession);
    reason = `${opts.blocksPerSession} block(s) per session, as asked`;
  } else {
    const budget = resolveBudget(opts.maxDeviceMemory!, opts.ep);
    const wholeBytes = wholeModelBytes(input({ embedding: 0, blocks: [m.weightBytes] }, budget.ep));
    if (budget.bytes === undefined) return { mode: 'whole', reason: `${budget.source}: the whole model in one session` };
    if (wholeBytes <= budget.bytes) return { mode: 'whole', reason: `the whole model (about ${formatBytes(wholeBytes)}) fits ${formatBytes(budget.bytes)} (${budget.source})` };
    schedule = scheduleByBudget(input(m.runner().blocks.weightBytes(), budget.ep), budget.bytes);
    const lowered = schedule.batch < schedule.requestedBatch ? `; ${schedule.batch} windows per run instead of ${schedule.requestedBatch} so that one block fits` : '';
    reason = `the whole model (about ${formatBytes(wholeBytes)}) exceeds ${formatBytes(budget.bytes)} (${budget.source})${lowered}`;
  }
  const passWindows = opts.passWindows ?? windowsPerPass(m.spec, opts.seqLen, schedule.batch, schedule.budgetBytes);
  return { mode: 'blockwise', reason, schedule, ...blockwiseScoring(m.runner(), m.spec, schedule, passWindows, m.halfWeights, opts) };
}

/** Windows whose carried hidden states fit a quarter of the budget (whole batches, at least one). */
export function windowsPerPass(spec: ModelSpec, seqLen: number, batchWindows: number, budgetBytes?: number): number {
  const perWindow = hiddenStateBytes(spec, 1, seqLen);
  const fit = budgetBytes === undefined ? Number.POSITIVE_INFINITY : Math.floor(budgetBytes / 4 / perWindow);
  return Math.max(batchWindows, Math.floor(fit / batchWindows) * batchWindows);
}

function blockwiseScoring(
  runner: SegmentRunner,
  spec: ModelSpec,
  schedule: BlockSchedule,
  passWindows: number,
  keepFp16Weights: boolean,
  opts: BlockwiseEvalOptions,
): { scoring: BatchScoring; ep: () => string | undefined; measured: ReadonlyArray<number | undefined> } {
  let ep: string | undefined;
  const measured: Array<number | undefined> = [];
  const scoring = async (batches: TargetBatch[], onProgress: (fraction: number) => void): Promise<BatchScorer[]> => {
    // passes of whole batches holding at most passWindows windows' tokens (task requests vary in length)
    const passTokens = passWindows * opts.seqLen;
    const passes: TargetBatch[][] = [];
    let tokens = 0;
    for (const b of batches) {
      const t = b.batch.batch * b.batch.seq;
      if (!passes.length || tokens + t > passTokens) {
        passes.push([]);
        tokens = 0;
      }
      passes.at(-1)!.push(b);
      tokens += t;
    }
    const segments = schedule.ranges.length + 1;
    const total = segments * batches.length;
    let done = 0;
    const scorers: BatchScorer[] = [];
    for (const [p, pass] of passes.entries()) {
      if (passes.length > 1) opts.onLog?.(`pass ${p + 1}/${passes.length}: ${pass.reduce((a, b) => a + b.batch.batch, 0)} sequences`);
      const logprob = new Array<OrtTensor | undefined>(pass.length);
      const argmax = new Array<OrtTensor | undefined>(pass.length);
      const r = await runner.runAll(
        schedule.ranges,
        pass.length,
        (seg) => {
          const last = seg.index === segments - 1;
          return {
            // the targets ride with the carried tensors: probeFeeds feeds any input it is given by name
            feeds: (session, b, carriedIn) => probeFeeds(session, spec, pass[b]!.batch, { ...carriedIn, [TARGETS_INPUT]: int64Tensor(pass[b]!.targets, [pass[b]!.batch.batch, pass[b]!.batch.seq]) }),
            fetch: last ? [TOKEN_LOGPROB_OUTPUT, ARGMAX_OUTPUT] : [],
            onResult: (b, result) => {
              if (last) {
                logprob[b] = result[TOKEN_LOGPROB_OUTPUT];
                argmax[b] = result[ARGMAX_OUTPUT];
              }
            },
          };
        },
        {
          ep: opts.ep,
          keepFp16Weights,
          // the EP line and the segment lines once, on the first pass
          ...(p === 0 && opts.onLog ? { onLog: opts.onLog } : {}),
          ...(opts.signal ? { signal: opts.signal } : {}),
          onSegment: (seg, of) => {
            if (p !== 0) return;
            const est = schedule.segments[seg.index]!;
            opts.onLog?.(`segment ${seg.index + 1}/${of}: ${describeSegment(est)}`);
          },
          onSegmentDone: (seg, bytes) => {
            if (p !== 0 || bytes === undefined) return;
            measured[seg.index] = bytes;
            opts.onLog?.(`segment ${seg.index + 1}/${segments} done: device memory held ${formatBytes(bytes)}, estimate ${formatBytes(schedule.segments[seg.index]!.totalBytes)}`);
          },
          onBatch: () => onProgress(++done / total),
        },
      );
      ep ??= r.ep;
      pass.forEach((_, b) => {
        const lp = logprob[b];
        const am = argmax[b];
        if (!lp || !am || lp.type !== 'float32' || am.type !== 'int64') throw new EvalError(`block-by-block evaluation: the last segment gave no float32 log-probabilities / int64 argmaxes for batch ${b + 1} of pass ${p + 1}`);
        const l = lp.data as Float32Array;
        const a = am.data as BigInt64Array;
        scorers.push({ logprobAt: (row) => l[row]!, greedyAt: (row, token) => a[row] === BigInt(token) });
      });
    }
    return scorers;
  };
  return { scoring, ep: () => ep, measured };
}
