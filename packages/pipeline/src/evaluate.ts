/**
 * Evaluate (perplexity + zero-shot tasks) and bench (prefill / decode speed) of one ONNX model: the
 * steps prune-llm runs twice (dense, pruned) and the eval / bench commands once.
 */
import { join } from 'node:path';
import {
  ARGMAX_OUTPUT,
  benchmarkSpeed,
  createScoringSession,
  evaluatePerplexity,
  evaluateTasks,
  describeResolved,
  loadTextDataset,
  requireDataSets,
  DatasetError,
  type BatchScoring,
  type DataLocation,
  type ProgressCallback,
  type DataSetName,
  TOKEN_LOGPROB_OUTPUT,
  windowBatchFor,
  type EvalTokenizer,
  type PerplexityResult,
  type ScoringSession,
  type SpeedResult,
  type TaskName,
  type TasksResult,
} from '@llm-bip/eval';
import { checkWithinContext, contextLengthOf, modelWidthsOf } from '@llm-bip/model';
import { createSession, deviceMemory, logitsOutputName, type EpChoice, type KvLayout, type Session } from '@llm-bip/runtime';
import { formatBytes, segmentReports, type MemoryBudget, type SegmentReport } from '@llm-bip/scoring';
import { loadBlockwiseModel, planEvaluation, type EvalExecution } from './evaluate-blockwise.js';
import { DEFAULTS, evalMemoryBudget } from './defaults.js';
import { hooksOf, type PipelineHooks } from './hooks.js';
import { batchForModel, benchDemand, evalDemands, inputsOfSession } from './input-demands.js';

export interface EvalRequest {
  /** perplexity sets: wikitext2, ptb, ptb-test */
  ppl: string[];
  tasks: TaskName[];
  /** perplexity window (DEFAULTS.eval.seqLen) */
  seqLen?: number;
  limit?: number;
  /** first N examples of each task (default: limit) */
  taskLimit?: number;
  /** sequences per forward pass (default: windows sized by a memory estimate, see windowBatch; 8 task requests) */
  batchSize?: number;
  /** a data folder, or the folders to search in order (eval's dataRoots: --data, $LLM_BIP_DATA, the cache, the development copy) */
  dataDir: DataLocation;
  ep?: EpChoice;
  /** where tokenized datasets are cached between runs */
  cacheDir?: string;
  /**
   * Device memory evaluation may use (bytes, or auto: the device's free memory now). Perplexity runs
   * block by block when the whole model's estimate exceeds it. Absent: the whole model in one session.
   */
  maxDeviceMemory?: MemoryBudget;
  /** perplexity block by block with this many decoder blocks per session, whatever the budget */
  blocksPerSession?: number;
}

export interface EvalRun {
  ep: string;
  perplexity: PerplexityResult[];
  tasks?: TasksResult;
  /** block by block under a budget: the plan's estimates per segment and, on CUDA, what each held */
  blockwise?: BlockwiseReport;
}

/** How a block-by-block evaluation ran: windows per run, the budget, each segment's estimate (and measurement). */
export interface BlockwiseReport {
  ep: string;
  reason: string;
  windowsPerRun: number;
  budgetBytes?: number;
  estimatedPeakBytes: number;
  segments: SegmentReport[];
}

/** A model file to evaluate and the KV-cache layout its spec gives (from `kvLayoutOf`). */
export interface ModelFile {
  path: string;
  kv?: KvLayout;
}

/** The vocabulary of a session's logits output, when the graph states it. */
export function logitsVocab(session: Session): number | undefined {
  // the scoring head's outputs are not the model's: leave them out when looking for its logits
  const headOutputs = new Set([TOKEN_LOGPROB_OUTPUT, ARGMAX_OUTPUT]);
  const modelOutputs = session.outputNames.filter((n) => !headOutputs.has(n));
  const logits = modelOutputs.includes('logits') ? 'logits' : modelOutputs.length === 1 ? modelOutputs[0]! : logitsOutputName(session);
  const meta = session.outputMetadata.find((m) => m.name === logits);
  const last = meta && meta.isTensor ? meta.shape[meta.shape.length - 1] : undefined;
  return typeof last === 'number' ? last : undefined;
}

/**
 * A session for evaluation: the model plus the in-graph token scoring head (log-probs and argmaxes come
 * back instead of the whole logits tensor). A model the head cannot be added to (no recognisable logits
 * output, a folder where the derived file cannot be placed, ops its opset or EP rejects) gets a plain
 * session, scored in JS with the same results (to 1e-6), and a warning says so. Release the session, then `cleanup`.
 */
export async function evaluationSession(path: string, ep: EpChoice, hooks?: PipelineHooks): Promise<ScoringSession> {
  const h = hooksOf(hooks);
  try {
    return await createScoringSession(path, { ep, onLog: h.log });
  } catch (e) {
    // A model that is itself broken fails in the plain session too: then that error is the one to show, with no warning.
    const session = await createSession(path, { ep, onLog: h.log });
    const reason = String((e as Error).message ?? e).split('\n')[0];
    // a warning, not a log line: it shows under --json too, and the run may be much slower
    h.warn(`the in-graph scoring head was not added (${reason}); evaluating the model as it is (log-softmax in JS unless the file already has the head)`);
    return { session, cleanup: async () => undefined };
  }
}

export interface EvaluateOptions {
  /** prefix of log lines and progress labels ("dense ", "pruned ") */
  label?: string;
  /** called with the session's logits vocabulary before anything runs (the CLI checks the tokenizer against it) */
  checkVocab?: (vocab: number | undefined) => void;
}

/** Perplexity + tasks of one ONNX model. */
export async function evaluateModel(model: ModelFile, tokenizer: EvalTokenizer, req: EvalRequest, hooks?: PipelineHooks, opts: EvaluateOptions = {}): Promise<EvalRun> {
  const h = hooksOf(hooks);
  const label = opts.label ?? '';
  // every set is found (or all the missing ones named, with the fetch command) before a session is made
  const data = requireDataSets([...req.ppl, ...req.tasks], req.dataDir);
  if (req.maxDeviceMemory !== undefined || req.blocksPerSession !== undefined) {
    const run = await evaluateUnderBudget(model, tokenizer, req, data, hooks, opts);
    if (run) return run;
  }
  const { session, cleanup } = await evaluationSession(model.path, req.ep ?? DEFAULTS.ep, hooks);
  const progress = h.evalProgress(label);
  try {
    const vocab = logitsVocab(session);
    opts.checkVocab?.(vocab);
    // a model with fixed input dims: its batch, or a clear refusal before any window runs
    const fixedBatch = batchForModel(inputsOfSession(session), { inputs: { inputIds: 'input_ids' } }, evalDemands(req), req.batchSize, model.path);
    const perplexity: PerplexityResult[] = [];
    const seqLen = req.seqLen ?? DEFAULTS.eval.seqLen;
    const windowBatch = req.ppl.length && fixedBatch === undefined ? windowBatchOf(model.path, session.ep, vocab, seqLen, req) : undefined;
    if (windowBatch && req.batchSize === undefined) h.log(`${label}perplexity: ${windowBatch.batch} windows per run (${windowBatch.why})`);
    if (req.ppl.length) perplexity.push(...(await perplexities(session, model, tokenizer, req, data, fixedBatch ?? windowBatch!.batch, progress.onProgress, h.log, label)));
    const tasks = req.tasks.length ? await runTasks(session, model, tokenizer, req, data, fixedBatch, session.ep, progress.onProgress) : undefined;
    return { ep: session.ep, perplexity, ...(tasks ? { tasks } : {}) };
  } finally {
    progress.finish();
    try {
      await session.release();
    } finally {
      await cleanup();
    }
  }
}

/** The zero-shot tasks of `req`, through a session or block by block; missing task files are an error. */
async function runTasks(
  source: Session | BatchScoring,
  model: ModelFile,
  tokenizer: EvalTokenizer,
  req: EvalRequest,
  data: ReturnType<typeof requireDataSets>,
  batchSize: number | undefined,
  ep: string,
  onProgress: ProgressCallback,
): Promise<TasksResult> {
  const limit = req.taskLimit ?? req.limit;
  const tasks = await evaluateTasks(source, tokenizer, {
    tasksDir: (task) => join(data.get(task)!.root.dir, 'tasks'),
    tasks: req.tasks,
    onProgress,
    ...(limit !== undefined ? { limit } : {}),
    ...(batchSize !== undefined ? { batchSize } : {}),
    // WebGPU compiles kernels per input shape: round request lengths up so few shapes occur
    ...(ep === 'webgpu' ? { seqMultiple: 16 } : {}),
    ...(model.kv ? { kv: model.kv } : {}),
  });
  if (tasks.missing.length) {
    const m = tasks.missing.map((x) => `${x.task} (${x.files.join(', ')})`).join('; ');
    throw new DatasetError(`task files missing: ${m}. Pass --data DIR with the datasets (see ../shared/data/README.md), or leave those tasks out`);
  }
  return tasks;
}

/** Every perplexity set of `req`, through a session or block by block. */
async function perplexities(
  source: Session | BatchScoring,
  model: ModelFile,
  tokenizer: EvalTokenizer,
  req: EvalRequest,
  data: ReturnType<typeof requireDataSets>,
  batchSize: number,
  onProgress: ProgressCallback,
  log: (line: string) => void,
  label: string,
): Promise<PerplexityResult[]> {
  const out: PerplexityResult[] = [];
  for (const name of req.ppl) {
    const found = data.get(name as DataSetName)!;
    // the first run tokenizes the whole set (seconds to a minute); later runs read the cache
    log(`${label}${describeResolved(found)}`);
    const dataset = await loadTextDataset(name, found.files[0]!);
    out.push(
      await evaluatePerplexity(source, tokenizer, dataset, {
        seqLen: req.seqLen ?? DEFAULTS.eval.seqLen,
        ...(req.cacheDir ? { cacheDir: req.cacheDir } : {}),
        onProgress,
        ...(req.limit !== undefined ? { limit: req.limit } : {}),
        batchSize,
        ...(model.kv ? { kv: model.kv } : {}),
      }),
    );
  }
  return out;
}

/**
 * Evaluation under a memory budget: undefined when the whole model fits (the caller runs it whole as
 * usual), else perplexity block by block. Zero-shot tasks are not run block by block: asked for with a
 * budget the whole model exceeds, they are refused before anything runs.
 */
async function evaluateUnderBudget(model: ModelFile, tokenizer: EvalTokenizer, req: EvalRequest, data: ReturnType<typeof requireDataSets>, hooks: PipelineHooks | undefined, opts: EvaluateOptions): Promise<EvalRun | undefined> {
  const h = hooksOf(hooks);
  const label = opts.label ?? '';
  const { plan, windowBatch, taskBatch } = await planUnderBudget(model.path, req, { ...opts, onLog: h.log });
  if (plan.mode === 'whole') {
    h.log(`${label}evaluation: the whole model in one session (${plan.reason})`);
    return undefined;
  }
  // the budget may lower the windows per run so that one block (or the head) fits
  const windows = plan.schedule.batch;
  const why = windows < windowBatch.batch ? `lowered from ${windowBatch.batch} by the budget` : windowBatch.why;
  h.log(`${label}evaluation: block by block, ${plan.schedule.segments.length} segments, estimated peak ${formatBytes(plan.schedule.peakBytes)} (${plan.reason}) on the ${plan.schedule.ep} EP; ${windows} windows per run (${why})`);
  const progress = h.evalProgress(label);
  try {
    const perplexity = req.ppl.length ? await perplexities(plan.scoring, model, tokenizer, req, data, windows, progress.onProgress, h.log, label) : [];
    const tasks = req.tasks.length ? await runTasks(plan.scoring, model, tokenizer, req, data, taskBatch, deviceMemory(req.ep ?? DEFAULTS.ep).ep, progress.onProgress) : undefined;
    const blockwise: BlockwiseReport = {
      ep: plan.schedule.ep,
      reason: plan.reason,
      windowsPerRun: windows,
      ...(plan.schedule.budgetBytes !== undefined ? { budgetBytes: plan.schedule.budgetBytes } : {}),
      estimatedPeakBytes: plan.schedule.peakBytes,
      segments: segmentReports(plan.schedule, plan.measured),
    };
    return { ep: plan.ep() ?? req.ep ?? DEFAULTS.ep, perplexity, ...(tasks ? { tasks } : {}), blockwise };
  } finally {
    progress.finish();
  }
}

/**
 * How `req` would evaluate the model at `path` under its budget: whole, or block by block with its
 * schedule. Refuses, before anything runs, a budget below one block.
 */
async function planUnderBudget(path: string, req: EvalRequest, opts: EvaluateOptions & { onLog?: (line: string) => void } = {}): Promise<{ plan: EvalExecution; windowBatch: { batch: number; why: string }; taskBatch?: number }> {
  const ep = req.ep ?? DEFAULTS.ep;
  const m = await loadBlockwiseModel(path);
  opts.checkVocab?.(m.vocab);
  const seqLen = req.seqLen ?? DEFAULTS.eval.seqLen;
  const fixedBatch = batchForModel(m.inputs, m.spec, evalDemands(req), req.batchSize, path);
  // the caller's batch size comes back from batchForModel too: only an unasked one is the model's
  const windowBatch = fixedBatch !== undefined && req.batchSize === undefined ? { batch: fixedBatch, why: 'fixed by the model' } : windowBatchOf(path, deviceMemory(ep).ep, m.vocab, seqLen, req);
  const plan = planEvaluation(m, {
    ep,
    ...(req.maxDeviceMemory !== undefined ? { maxDeviceMemory: req.maxDeviceMemory } : {}),
    ...(req.blocksPerSession !== undefined ? { blocksPerSession: req.blocksPerSession } : {}),
    batchWindows: windowBatch.batch,
    seqLen,
    ...(opts.onLog ? { onLog: opts.onLog } : {}),
  });
  return { plan, windowBatch, ...(fixedBatch !== undefined ? { taskBatch: fixedBatch } : {}) };
}

/**
 * Perplexity windows per forward pass: the caller's batch size, else as many as evalMemoryBudget holds
 * by the eval package's per-window estimate (vocabulary from the session, widths from the model's records).
 */
export function windowBatchOf(path: string, ep: string, vocab: number | undefined, seqLen: number, req: Pick<EvalRequest, 'batchSize' | 'limit'>): { batch: number; why: string } {
  if (req.batchSize !== undefined) return { batch: req.batchSize, why: 'as asked' };
  if (vocab === undefined) return { batch: DEFAULTS.eval.windowBatch, why: 'the default: the graph does not state its vocabulary' };
  const widths = modelWidthsOf(path);
  const budget = evalMemoryBudget(ep);
  const { batch, windowBytes } = windowBatchFor({ vocab, ...widths }, seqLen, budget, req.limit);
  const mb = (b: number) => `${Math.round(b / 1024 ** 2)} MiB`;
  return { batch, why: `about ${mb(windowBytes)} each by the memory estimate, budget ${mb(budget)} on ${ep}${widths ? '' : '; model widths unknown, logits term doubled'}` };
}

export interface BenchRequest {
  prompt?: number;
  /** tokens decoded after the prompt, 0 to skip */
  decode?: number;
  batch?: number;
  repeats?: number;
  ep?: EpChoice;
}

/** Prefill (batch x prompt) and decode throughput of one ONNX model (defaults: DEFAULTS.bench). */
export async function benchModel(model: ModelFile, req: BenchRequest = {}, hooks?: PipelineHooks, opts: { label?: string } = {}): Promise<SpeedResult> {
  const h = hooksOf(hooks);
  const b = { ...DEFAULTS.bench, ...definedOf(req) };
  checkWithinContext('--prompt + --decode', b.prompt + b.decode, contextLengthOf(model.path));
  // kvOnDevice: greedy decoding feeds the KV cache back where the EP keeps it (WebGPU; CUDA and CPU return it to the host)
  const session = await createSession(model.path, { ep: req.ep ?? DEFAULTS.ep, onLog: h.log, kvOnDevice: true });
  const progress = h.evalProgress(opts.label ?? '');
  try {
    batchForModel(inputsOfSession(session), { inputs: { inputIds: 'input_ids' } }, [benchDemand(req)], b.batch, model.path);
    return await benchmarkSpeed(session, {
      batch: [b.batch],
      seq: [b.prompt],
      iterations: b.repeats,
      decode: b.decode > 0 ? { batch: b.batch, promptLen: b.prompt, newTokens: b.decode } : null,
      onProgress: progress.onProgress,
      ...(model.kv ? { kv: model.kv } : {}),
    });
  } finally {
    progress.finish();
    await session.release();
  }
}

function definedOf<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
