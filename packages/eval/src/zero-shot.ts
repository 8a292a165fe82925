import type { KvLayout, Session } from '@llm-bip/runtime';
import { EvalError } from './errors.js';
import { scoreRequests } from './loglikelihood.js';
import { meanStderr, scoreItem } from './metrics.js';
import { ProgressTracker, type ProgressCallback } from './progress.js';
import { readParquetRows } from './datasets/readers.js';
import type { BatchScoring } from './token-scores.js';
import { findHfParquet, taskItemsFromHfRows } from './tasks/hf-rows.js';
import { loadTaskItems, missingTaskFiles } from './tasks/loaders.js';
import { taskNames, type TaskItem, type TaskName } from './tasks/types.js';
import type { EvalTokenizer } from './tokenizer.js';

/** The metric the LLM-Pruner tables report for each task. */
export const primaryMetric: Record<TaskName, 'acc' | 'acc_norm'> = {
  boolq: 'acc',
  piqa: 'acc',
  hellaswag: 'acc_norm',
  winogrande: 'acc',
  arc_easy: 'acc',
  arc_challenge: 'acc_norm',
  openbookqa: 'acc_norm',
};

export interface TaskOptions {
  /** Folder laid out like ../shared/data/tasks; or each task's own (resolveDataSet may find tasks in different data folders). */
  tasksDir: string | ((task: TaskName) => string);
  /** Default: all seven. */
  tasks?: readonly TaskName[];
  /** First N items of each task. */
  limit?: number;
  batchSize?: number;
  /** Pad each batch's length up to a multiple of this (WebGPU compiles kernels per shape). */
  seqMultiple?: number;
  /** BOS before every request (lm-eval add_bos_token; default false as in the harness). */
  addBos?: boolean;
  maxLength?: number;
  kv?: KvLayout;
  /** Keep per-item log-likelihoods in the result (for comparing with a PyTorch run). */
  logSamples?: boolean;
  onProgress?: ProgressCallback;
}

export interface SampleLog {
  id: string;
  gold: number;
  /** Log-likelihood of each choice's continuation, in choice order. */
  lls: number[];
  isGreedy: boolean[];
  pred: number;
}

export interface TaskResult {
  task: TaskName;
  samples: number;
  acc: number;
  acc_stderr: number;
  acc_norm: number;
  acc_norm_stderr: number;
  acc_bytes: number;
  acc_bytes_stderr: number;
  /** The metric the peers' tables use for this task. */
  primaryMetric: 'acc' | 'acc_norm';
  elapsedMs: number;
  requests: number;
  log?: SampleLog[];
}

export interface TasksResult {
  results: Partial<Record<TaskName, TaskResult>>;
  /** Tasks whose files were missing: reported, not fatal. */
  missing: { task: TaskName; files: string[] }[];
  /** Mean of each finished task's primary metric (LLM-Pruner's "Average" column). */
  average: number;
}

export function isTaskName(name: string): name is TaskName {
  return (taskNames as readonly string[]).includes(name);
}

/** Score items: every choice's log-likelihood, then acc / acc_norm / acc_bytes as lm-eval computes them. */
export async function evaluateItems(session: Session | BatchScoring, tokenizer: EvalTokenizer, task: TaskName, items: readonly TaskItem[], opts: Omit<TaskOptions, 'tasksDir' | 'tasks' | 'limit'> = {}): Promise<TaskResult> {
  const requests = items.flatMap((it) => it.requests);
  const progress = new ProgressTracker(opts.onProgress, 'task', task, requests.length, 'requests');
  const lls = await scoreRequests(session, tokenizer, requests, {
    batchSize: opts.batchSize,
    seqMultiple: opts.seqMultiple,
    addBos: opts.addBos,
    maxLength: opts.maxLength,
    kv: opts.kv,
    onBatch: (d, t) => progress.update(d, t),
  });
  const acc: number[] = [];
  const accNorm: number[] = [];
  const accBytes: number[] = [];
  const log: SampleLog[] = [];
  let k = 0;
  for (const item of items) {
    const mine = lls.slice(k, k + item.requests.length);
    k += item.requests.length;
    const s = scoreItem(item, mine.map((r) => r.logprob));
    acc.push(s.acc);
    accNorm.push(s.acc_norm);
    accBytes.push(s.acc_bytes);
    if (opts.logSamples) log.push({ id: item.id, gold: item.gold, lls: mine.map((r) => r.logprob), isGreedy: mine.map((r) => r.isGreedy), pred: s.pred });
  }
  const a = meanStderr(acc);
  const n = meanStderr(accNorm);
  const b = meanStderr(accBytes);
  return {
    task,
    samples: items.length,
    acc: a.mean,
    acc_stderr: a.stderr,
    acc_norm: n.mean,
    acc_norm_stderr: n.stderr,
    acc_bytes: b.mean,
    acc_bytes_stderr: b.stderr,
    primaryMetric: primaryMetric[task],
    elapsedMs: progress.elapsedMs(),
    requests: requests.length,
    ...(opts.logSamples ? { log } : {}),
  };
}

/**
 * Zero-shot evaluation of the requested tasks. Each task reads its standard files (taskFiles) or, when they
 * are absent, an HF parquet of its scored split in the same folder; a task with neither is listed in `missing`.
 */
export async function evaluateTasks(session: Session | BatchScoring, tokenizer: EvalTokenizer, opts: TaskOptions): Promise<TasksResult> {
  const tasks = opts.tasks ?? taskNames;
  for (const t of tasks) if (!isTaskName(t)) throw new EvalError(`unknown task "${String(t)}" (known: ${taskNames.join(', ')})`);
  if (opts.limit !== undefined && (!Number.isInteger(opts.limit) || opts.limit < 1)) throw new EvalError(`--limit must be a positive integer, got ${opts.limit}`);
  const out: TasksResult = { results: {}, missing: [], average: Number.NaN };
  for (const task of tasks) {
    const tasksDir = typeof opts.tasksDir === 'string' ? opts.tasksDir : opts.tasksDir(task);
    const missing = missingTaskFiles(task, tasksDir);
    const parquet = missing.length ? findHfParquet(task, tasksDir) : undefined;
    if (missing.length && !parquet) {
      out.missing.push({ task, files: missing });
      continue;
    }
    let items = parquet ? taskItemsFromHfRows(task, await readParquetRows(parquet)) : loadTaskItems(task, tasksDir);
    if (opts.limit !== undefined) items = items.slice(0, opts.limit);
    out.results[task] = await evaluateItems(session, tokenizer, task, items, opts);
  }
  const done = Object.values(out.results);
  if (done.length) out.average = done.reduce((s, r) => s + r[r.primaryMetric], 0) / done.length;
  return out;
}
