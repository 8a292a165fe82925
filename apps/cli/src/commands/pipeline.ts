/**
 * The pipeline steps as thin calls into the packages: calibrate + score (scoring), plan (scoring
 * allocation), prune (surgery). score, plan, prune and prune-llm are compositions of these.
 */
import { join } from 'node:path';
import { loadTokenizer } from '@llm-bip/eval';
import type { LoadedModel } from '@llm-bip/onnx-io';
import { checkWithinContext, contextLengthOf, modelFingerprint, planModelShape, type ModelSpec, type PruningPlan } from '@llm-bip/model';
import {
  collectStatistics,
  compensationStats,
  getCriterion,
  makePlan,
  modelWeights,
  sampleCalibration,
  type AllocationMode,
  type CalibrationSet,
  type GroupScores,
  type Statistics,
} from '@llm-bip/scoring';
import { pruneModel, type PruneResult } from '@llm-bip/surgery';
import type { CommandContext } from '../command.js';
import { checkTokenizerMatchesModel } from './tokenizer-check.js';

export interface CalibrationRequest {
  /** calibration text: .jsonl (one document per line, "text" field) or plain text; default the C4 sample */
  calib?: string;
  samples: number;
  seqLen: number;
  seed: number;
}

export function defaultCalibrationFile(data: string): string {
  return join(data, 'c4', 'c4_sample.jsonl');
}

/** Draw the calibration windows with the model's tokenizer. */
export async function calibrate(ctx: CommandContext, tokenizerPath: string, req: CalibrationRequest & { dataDir: string }, model?: { spec: ModelSpec; path: string }): Promise<CalibrationSet> {
  if (model) checkTokenizerMatchesModel(tokenizerPath, model.spec.vocabSize, model.path);
  if (model) checkWithinContext('--seq-len', req.seqLen, contextLengthOf(model.path));
  const tokenizer = loadTokenizer(tokenizerPath);
  const file = req.calib ?? defaultCalibrationFile(req.dataDir);
  const source = file.endsWith('.jsonl') ? { jsonlPath: file } : { textPath: file };
  return sampleCalibration({ ...source, encode: (t) => tokenizer.encode(t), samples: req.samples, seqLen: req.seqLen, seed: req.seed });
}

/** Run the probe over the calibration rows and let the criterion score every head and channel. */
export async function scoreModel(
  ctx: CommandContext,
  input: { loaded: LoadedModel; spec: ModelSpec; onnxPath: string },
  criterionName: string,
  calibration: CalibrationSet,
  ep: 'auto' | 'cuda' | 'webgpu' | 'cpu',
  criterionOptions?: Record<string, unknown>,
): Promise<{ stats: Statistics; scores: GroupScores }> {
  const criterion = getCriterion(criterionName);
  const bar = ctx.progress({ label: 'calibration', total: calibration.samples * calibration.seqLen, unit: 'tok' });
  const stats = await collectStatistics({
    modelPath: input.onnxPath,
    spec: input.spec,
    taps: criterion.taps(input.spec, criterionOptions),
    rows: calibration.rows,
    ep,
    onLog: (line) => ctx.log(line),
    onProgress: (rows) => {
      ctx.signal.throwIfAborted();
      bar.update(rows * calibration.seqLen);
    },
  });
  bar.finish();
  ctx.signal.throwIfAborted();
  // the random criterion draws from the same --seed as the calibration sample, so seeds give different draws
  const options = criterionName === 'random' ? { seed: calibration.seed, ...criterionOptions } : criterionOptions;
  const scores = await criterion.score(stats, modelWeights(input.loaded.model, input.loaded.dir), input.spec, options);
  return { stats, scores };
}

export async function fingerprintOf(loaded: LoadedModel): Promise<string> {
  return modelFingerprint(loaded.path, loaded.model, loaded.dir);
}

export interface PlanRequest {
  ratio: number;
  /** default: the criterion's own (flap: al-am), else global-kind */
  allocation?: AllocationMode;
  calibration?: PruningPlan['calibration'];
  seed?: number;
}

export function planFromScores(scores: GroupScores, spec: ModelSpec, fingerprint: string, req: PlanRequest): PruningPlan {
  const allocation = req.allocation ?? (scores.defaultAllocation as AllocationMode | undefined) ?? 'global-kind';
  return makePlan(scores, planModelShape(spec, fingerprint), {
    ratio: req.ratio,
    allocation,
    ...(req.calibration ? { calibration: req.calibration } : {}),
    ...(req.seed !== undefined ? { seed: req.seed } : {}),
    notes: { tool: 'llm-bip' },
  });
}

export function calibrationRecord(c: CalibrationSet): NonNullable<PruningPlan['calibration']> {
  return { source: c.source, samples: c.samples, seqLen: c.seqLen, seed: c.seed };
}

/** Surgery into `outPath` (a file inside an OutputSet's staging folder), with a progress bar. */
export async function pruneTo(
  ctx: CommandContext,
  input: { loaded: LoadedModel; spec: ModelSpec },
  plan: PruningPlan,
  outPath: string,
  compensation?: Statistics,
): Promise<PruneResult> {
  const bar = ctx.progress({ label: 'surgery', unit: 'tensor' });
  const result = await pruneModel({
    model: input.loaded,
    spec: input.spec,
    plan,
    outPath,
    ...(compensation ? { compensation: compensationStats(compensation, input.spec) } : {}),
    onProgress: (p) => {
      ctx.signal.throwIfAborted();
      if (p.phase === 'tensors') bar.update(p.done, p.total);
    },
  });
  bar.finish();
  return result;
}
