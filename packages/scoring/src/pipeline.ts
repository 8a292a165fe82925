/**
 * The two steps the CLI wires: `scoreModel` (model + calibration -> scores.json content) and
 * `planFromScores` (scores.json + ratio + allocation -> PruningPlan). Scores files carry the
 * statistics, so `rescore` can apply another option of the same criterion (an ablation) without
 * running the model again.
 */
import { loadModel } from '@llm-bip/onnx-io';
import { planModelShape, recogniseModel, type CompensationStats, type ModelSpec, type PruningPlan } from '@llm-bip/model';
import type { EpChoice } from '@llm-bip/runtime';
import { makePlan } from './allocation/plan.js';
import { ALLOCATIONS, type AllocationMode, type PlanOptions } from './allocation/allocate.js';
import type { CalibrationSet } from './calibration.js';
import { getCriterion } from './criteria/registry.js';
import { AllocationError, ScoringError } from './errors.js';
import { collectStatistics } from './probe/collect.js';
import { SCORES_FORMAT, type ScoresFile } from './scores-file.js';
import { blockOutputNorm, compensationStats } from './statistics.js';
import { STATISTICS_FORMAT, type GroupScores, type ScoreProgress, type Statistics } from './types.js';
import { modelWeights } from './weights.js';

export interface ScoreModelOptions {
  modelPath: string;
  criterion: string;
  criterionOptions?: Record<string, unknown>;
  /** required when the criterion reads activations (all but magnitude and random) */
  calibration?: CalibrationSet;
  /** spec, when the caller has recognised the model already */
  spec?: ModelSpec;
  ep?: EpChoice;
  batchSize?: number;
  threads?: number;
  /** model fingerprint recorded in the plan (surgery checks it) */
  fingerprint?: string;
  onProgress?: (rowsDone: number, rowsTotal: number) => void;
  onLog?: (line: string) => void;
  /** progress of the criterion's host-side step after calibration (llm-bip: spectral norms) */
  onScoreProgress?: ScoreProgress['onProgress'];
}

export async function scoreModel(opts: ScoreModelOptions): Promise<ScoresFile> {
  const criterion = getCriterion(opts.criterion);
  const loaded = await loadModel(opts.modelPath);
  const spec = opts.spec ?? recogniseModel(loaded.model);
  const taps = criterion.taps(spec, opts.criterionOptions);
  let statistics: Statistics;
  if (opts.calibration) {
    statistics = await collectStatistics({
      modelPath: opts.modelPath,
      spec,
      taps,
      rows: opts.calibration.rows,
      ...(opts.batchSize ? { batchSize: opts.batchSize } : {}),
      ...(opts.ep ? { ep: opts.ep } : {}),
      ...(opts.threads ? { threads: opts.threads } : {}),
      ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
      ...(opts.onLog ? { onLog: opts.onLog } : {}),
    });
  } else if (taps.length > 0) {
    throw new ScoringError(`criterion "${criterion.name}" reads activations: give calibration text (--calib FILE)`);
  } else {
    statistics = { format: STATISTICS_FORMAT, tokens: 0, rows: 0, seqLen: 0, taps: {} };
  }
  const scores = withBlockNorms(await criterion.score(statistics, modelWeights(loaded.model, loaded.dir), spec, opts.criterionOptions, { ...(opts.onScoreProgress ? { onProgress: opts.onScoreProgress } : {}) }), statistics);
  return {
    format: SCORES_FORMAT,
    model: planModelShape(spec, opts.fingerprint ?? ''),
    ...(opts.calibration
      ? { calibration: { source: opts.calibration.source, samples: opts.calibration.samples, seqLen: opts.calibration.seqLen, seed: opts.calibration.seed } }
      : {}),
    statistics,
    scores,
  };
}

/** Score again from saved statistics (another option of a criterion whose taps they hold). */
export async function rescore(file: ScoresFile, modelPath: string, criterion: string, options?: Record<string, unknown>): Promise<ScoresFile> {
  const loaded = await loadModel(modelPath);
  const spec = recogniseModel(loaded.model);
  const scores = withBlockNorms(await getCriterion(criterion).score(file.statistics, modelWeights(loaded.model, loaded.dir), spec, options), file.statistics);
  return { ...file, scores };
}

/** A plan from a scores file; allocation defaults to the criterion's own (flap: al-am, llm-bip: global-kind). */
export function planFromScores(
  file: ScoresFile,
  opts: Omit<PlanOptions, 'allocation' | 'calibration'> & { allocation?: AllocationMode },
): PruningPlan {
  const allocation = opts.allocation ?? (file.scores.defaultAllocation as AllocationMode | undefined) ?? 'uniform';
  if (!ALLOCATIONS.includes(allocation)) throw new AllocationError(`unknown allocation "${allocation}": choose one of ${ALLOCATIONS.join(', ')}`);
  return makePlan(file.scores, file.model, {
    ...opts,
    allocation,
    ...(file.calibration ? { calibration: file.calibration } : {}),
    ...(opts.seed === undefined && file.calibration ? { seed: file.calibration.seed } : {}),
  });
}

/** Fill in mean_t ||y_t|| from the statistics for criteria that do not set it (magnitude, random), so every allocation works. */
function withBlockNorms(scores: GroupScores, stats: Statistics): GroupScores {
  return {
    ...scores,
    layers: scores.layers.map((l) => {
      if (l.blockOutputNorm !== undefined) return l;
      const norm = stats.tokens > 0 ? blockOutputNorm(stats, l.layer) : undefined;
      return norm === undefined ? l : { ...l, blockOutputNorm: norm };
    }),
  };
}

/** FLAP's bias-compensation statistics from a scores file (for surgery). */
export function compensationFromScores(file: ScoresFile): CompensationStats {
  return compensationStats(file.statistics, file.model);
}
