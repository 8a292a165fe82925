/**
 * The pipeline steps the benchmarks run, as calls into @llm-bip/pipeline (no argv, no JSON round trip).
 * Each returns what the benchmark tables record; files are written where the tables expect them.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { buildReport, loadTokenizer, type EvalReport, type SpeedResult, type TaskName } from '@llm-bip/eval';
import { exportLlamaToOnnx, modelFingerprint, type PruningPlan } from '@llm-bip/model';
import { benchModel, calibrate, collectReconstructionMoments, DEFAULTS, evaluateModel, loadModelInput, planFromScoresFile, pruneTo, reconstructFor, scoreModel, scoresFile, sequentialPrune, type Align } from '@llm-bip/pipeline';
import { writeFileAtomicSync } from '@llm-bip/onnx-io';
import type { EpChoice } from '@llm-bip/runtime';
import { loadScores, saveScores, type CalibrationSet, type ProjectionMoments, type ScoresFile } from '@llm-bip/scoring';
import { kvLayoutOfFile } from '../../apps/cli/src/commands/kv-layout.js';
import { cacheDir, dataDir } from '../../apps/cli/src/commands/model-input.js';

/** A results file, written atomically (onnx-io's one temp-and-rename). */
export function saveAtomic(path: string, data: unknown): void {
  writeFileAtomicSync(path, JSON.stringify(data, null, 2), { mkdir: true });
}

/** HF folder -> ONNX (float32), as `llm-bip export` does. */
export async function exportDense(hfDir: string, out: string, opts: { kvCache?: boolean; externalData?: boolean } = {}): Promise<void> {
  mkdirSync(dirname(out), { recursive: true });
  await exportLlamaToOnnx(hfDir, out, { dtype: 'float32', kvCache: opts.kvCache ?? false, ...(opts.externalData !== undefined ? { externalData: opts.externalData } : {}) });
}

export interface EvalArgs {
  ppl: string[];
  tasks: TaskName[];
  limit?: number;
  taskLimit?: number;
  batchSize?: number;
  ep: EpChoice;
  data?: string;
}

/** Perplexity + tasks of a model file: the `results` of lm-eval-like JSON (what `llm-bip eval --json` prints). */
export async function evaluate(path: string, tokenizerDir: string, a: EvalArgs): Promise<EvalReport['results']> {
  const run = await evaluateModel({ path, ...optional('kv', await kvLayoutOfFile(path)) }, loadTokenizer(tokenizerDir), {
    ppl: a.ppl,
    tasks: a.tasks,
    dataDir: dataDir(a.data),
    cacheDir: cacheDir(process.env),
    ep: a.ep,
    ...optional('limit', a.limit),
    ...optional('taskLimit', a.taskLimit),
    ...optional('batchSize', a.batchSize),
  });
  return buildReport({ perplexity: run.perplexity, ...(run.tasks ? { tasks: run.tasks } : {}), config: { model: path, ep: run.ep, seqLen: DEFAULTS.eval.seqLen, limit: a.limit ?? null, taskLimit: a.taskLimit ?? a.limit ?? null } }).results;
}

export interface ScoreArgs {
  criterion: string;
  options?: Record<string, unknown>;
  seed: number;
  samples: number;
  seqLen?: number;
  ep: EpChoice;
  data?: string;
  /** a calibration file instead of the C4 set in the data folder */
  calib?: string;
}

/** Calibrate with the checkpoint's tokenizer, score, and save the scores file (as `llm-bip score`). */
export async function scoreTo(densePath: string, tokenizerDir: string, a: ScoreArgs, out: string): Promise<ScoresFile> {
  const m = await loadModelInput(densePath);
  const calibration = await calibrate(loadTokenizer(tokenizerDir), { dataDir: dataDir(a.data), ...optional('calib', a.calib), samples: a.samples, seqLen: a.seqLen ?? DEFAULTS.calibration.seqLen, seed: a.seed });
  const scored = await scoreModel(m, { criterion: a.criterion, ...optional('options', a.options), calibration, ep: a.ep });
  const file = scoresFile(m.spec, await modelFingerprint(m.loaded.path, m.loaded.model, m.loaded.dir), scored, calibration);
  await saveScores(file, out);
  return file;
}

/** A plan from a scores file (as `llm-bip plan`), saved to `out`. */
export async function planTo(scoresPath: string, ratio: number, allocation: string, out: string, align?: Align, headRatio?: number): Promise<PruningPlan> {
  const plan = planFromScoresFile(await loadScores(scoresPath), { ratio, allocation: allocation as never, ...optional('align', align), ...optional('headRatio', headRatio), notes: { scores: scoresPath } });
  saveAtomic(out, plan);
  return plan;
}

/** Reconstruction inputs computed once and shared by every plan of a run: calibration rows and their projection-input moments. */
export interface ReconstructionInputs {
  calibration: CalibrationSet;
  moments: ProjectionMoments[];
}

/** Calibrate (as `llm-bip prune --reconstruct`) and collect the moments of every o_proj / down_proj input, held-out rows apart. */
export async function reconstructionInputs(densePath: string, tokenizerDir: string, a: { seed: number; samples: number; seqLen?: number; ep: EpChoice; data?: string; calib?: string }): Promise<ReconstructionInputs> {
  const m = await loadModelInput(densePath);
  const calibration = await calibrate(loadTokenizer(tokenizerDir), { dataDir: dataDir(a.data), ...optional('calib', a.calib), samples: a.samples, seqLen: a.seqLen ?? DEFAULTS.calibration.seqLen, seed: a.seed });
  return { calibration, moments: await collectReconstructionMoments(m, calibration, { lambda: 'auto', ep: a.ep }) };
}

/**
 * Surgery by a plan (as `llm-bip prune`): with compensation from the scores file, or with least-squares
 * reconstruction from precomputed moments; parameter counts before and after, and the ridge chosen per projection.
 */
export async function pruneWith(
  densePath: string,
  plan: PruningPlan,
  outDir: string,
  bias?: { compensation: ScoresFile } | { reconstruction: ReconstructionInputs; lambda: 'auto' | number },
): Promise<{ before: number; after: number; reconstruction?: Record<string, unknown> }> {
  const m = await loadModelInput(densePath);
  mkdirSync(outDir, { recursive: true });
  if (bias && 'reconstruction' in bias) {
    const store = await reconstructFor(m, plan, bias.reconstruction.calibration, { lambda: bias.lambda, moments: bias.reconstruction.moments });
    try {
      const r = await pruneTo(m, { plan, outPath: `${outDir}/model.onnx`, reconstruction: store });
      return { before: r.record.parameters.before.total, after: r.record.parameters.after.total, ...optional('reconstruction', r.record.reconstruction) };
    } finally {
      store.dispose();
    }
  }
  const r = await pruneTo(m, { plan, outPath: `${outDir}/model.onnx`, ...(bias ? { compensation: bias.compensation.statistics } : {}) });
  return { before: r.record.parameters.before.total, after: r.record.parameters.after.total };
}

/**
 * Sequential pruning (as `llm-bip prune-llm --sequential`): the one-shot plan's allocation, every block
 * rescored, compensated or refit on the pruned blocks' outputs, from the scoring's own calibration rows
 * (same seed and samples); the sequential plan is saved to `planOut`.
 */
export async function pruneSequential(
  densePath: string,
  tokenizerDir: string,
  scoresPath: string,
  oneShot: PruningPlan,
  outDir: string,
  planOut: string,
  a: { seed: number; samples: number; seqLen?: number; ep: EpChoice; data?: string; calib?: string; compensate: boolean; reconstruct?: { lambda: 'auto' | number }; select?: 'criterion' | 'reconstruction'; selectAlpha?: number; selectKinds?: ReadonlyArray<'heads' | 'channels'>; selectCriterion?: string },
): Promise<{ before: number; after: number; plan: PruningPlan; reconstruction?: Record<string, unknown> }> {
  const m = await loadModelInput(densePath);
  const scores = await loadScores(scoresPath);
  const calibration = await calibrate(loadTokenizer(tokenizerDir), { dataDir: dataDir(a.data), ...optional('calib', a.calib), samples: a.samples, seqLen: a.seqLen ?? DEFAULTS.calibration.seqLen, seed: a.seed });
  const seq = await sequentialPrune(m, calibration, { plan: oneShot, scores: scores.scores, compensate: a.compensate, ...optional('reconstruct', a.reconstruct), ...optional('select', a.select), ...optional('selectAlpha', a.selectAlpha), ...optional('selectKinds', a.selectKinds), ...optional('selectCriterion', a.selectCriterion), ep: a.ep });
  saveAtomic(planOut, seq.plan);
  mkdirSync(outDir, { recursive: true });
  try {
    const bias = seq.reconstruction ? { reconstruction: seq.reconstruction } : a.compensate ? { compensation: seq.statistics } : {};
    const r = await pruneTo(m, { plan: seq.plan, outPath: `${outDir}/model.onnx`, ...bias });
    return { before: r.record.parameters.before.total, after: r.record.parameters.after.total, plan: seq.plan, ...optional('reconstruction', r.record.reconstruction) };
  } finally {
    seq.reconstruction?.dispose();
  }
}

/** Prefill / decode speed of a model file (as `llm-bip bench`). */
export async function bench(path: string, a: { ep: EpChoice; prompt: number; decode: number; batch: number; repeats: number }): Promise<SpeedResult> {
  return benchModel({ path, ...optional('kv', await kvLayoutOfFile(path)) }, a);
}

function optional<K extends string, V>(key: K, v: V | undefined): { [k in K]?: V } {
  return (v === undefined ? {} : { [key]: v }) as { [k in K]?: V };
}
