/**
 * Score: the probe runs the calibration rows, the criterion turns the statistics (and the weights) into
 * scores. Takes the model already loaded and recognised; reads no file it is handed.
 */
import type { LoadedModel } from '@llm-bip/onnx-io';
import { checkWithinContext, contextLengthOf, planModelShape, type ModelSpec } from '@llm-bip/model';
import type { EpChoice } from '@llm-bip/runtime';
import {
  blockOutputNorm,
  collectStatistics,
  formatBytes,
  getCriterion,
  modelWeights,
  resolveCriterionOptions,
  ScoringError,
  segmentReports,
  SCORES_FORMAT,
  STATISTICS_FORMAT,
  type CalibrationSet,
  type ExecutionSchedule,
  type GroupScores,
  type MemoryBudget,
  type ScoresFile,
  type SegmentReport,
  type Statistics,
} from '@llm-bip/scoring';
import { calibrationRecord } from './calibrate.js';
import { DEFAULTS } from './defaults.js';
import { hooksOf, type PipelineHooks } from './hooks.js';

/** A model loaded once and recognised once: what every step takes. */
export interface ModelInput {
  loaded: LoadedModel;
  spec: ModelSpec;
}

export interface ScoreRequest {
  /** a registered criterion (DEFAULTS.criterion) */
  criterion?: string;
  /** the criterion's declared options; undeclared ones are an error, missing ones take their defaults */
  options?: Record<string, unknown>;
  /** required when the criterion reads activations (all built-ins but magnitude and random) */
  calibration?: CalibrationSet;
  ep?: EpChoice;
  /** rows per forward pass (collectStatistics' default when absent) */
  batchSize?: number;
  threads?: number;
  /** device memory the probe may use (DEFAULTS.maxDeviceMemory: whole model when it fits, else block by block) */
  maxDeviceMemory?: MemoryBudget;
  /** block by block with this many decoder blocks per session, whatever the budget */
  blocksPerSession?: number;
}

export interface Scored {
  statistics: Statistics;
  scores: GroupScores;
  /** how the probe ran (absent when no calibration ran) */
  execution?: ExecutionReport;
}

/** How the probe ran: whole or block by block, the segments, estimates and the measured host peak. */
export interface ExecutionReport {
  mode: 'whole' | 'blockwise';
  reason: string;
  batchSize: number;
  budgetBytes?: number;
  /** estimate of the whole probe's device memory */
  wholeBytes?: number;
  /**
   * block by block: each segment ('embedding' or 'blocks a-b') with its estimate by part (weights, live
   * activations, the allocator's reserve, the EP's own) and, on CUDA, the device memory measured at its end
   */
  segments?: SegmentReport[];
  /** the largest segment's estimate */
  estimatedPeakBytes?: number;
  /** block by block: the EP the estimates are for */
  ep?: string;
  /** peak resident memory of this process so far (the host side; on the CPU EP also the device) */
  hostPeakRssBytes: number;
  /** wall seconds of the two phases: the probe over the calibration rows (session creation included), and
   * the criterion's own step after it (llm-bip: the spectral norms); what a run's time goes to, under --json too */
  seconds?: { calibration: number; criterion: number };
}

export async function scoreModel(model: ModelInput, req: ScoreRequest = {}, hooks?: PipelineHooks): Promise<Scored> {
  const h = hooksOf(hooks);
  const criterion = getCriterion(req.criterion ?? DEFAULTS.criterion);
  const options = resolveCriterionOptions(criterion, req.options, { seed: req.calibration?.seed ?? DEFAULTS.calibration.seed });
  const taps = criterion.taps(model.spec, options);
  let statistics: Statistics;
  let execution: ExecutionReport | undefined;
  if (req.calibration) {
    const c = req.calibration;
    checkWithinContext('--seq-len', c.seqLen, contextLengthOf(model.loaded.path));
    const bar = h.progress({ label: 'calibration', total: c.samples * c.seqLen, unit: 'tok' });
    const calibrationStart = performance.now();
    let schedule: ExecutionSchedule | undefined;
    const measured: Array<number | undefined> = [];
    statistics = await collectStatistics({
      model: model.loaded,
      spec: model.spec,
      taps,
      rows: c.rows,
      ep: req.ep ?? DEFAULTS.ep,
      ...(req.batchSize ? { batchSize: req.batchSize } : {}),
      ...(req.threads ? { threads: req.threads } : {}),
      ...(req.blocksPerSession !== undefined ? { blocksPerSession: req.blocksPerSession } : { maxDeviceMemory: req.maxDeviceMemory ?? DEFAULTS.maxDeviceMemory }),
      ...(hooks?.signal ? { signal: hooks.signal } : {}),
      onLog: h.log,
      onSegmentMemory: (segment, bytes) => (measured[segment] = bytes),
      onSchedule: (s) => {
        schedule = s;
        if (s.mode === 'blockwise') h.log(`scoring block by block: ${s.blockwise!.ranges.length} block segments + the embedding, ${s.batchSize} rows per run (${s.reason}); estimated peak ${formatBytes(s.blockwise!.peakBytes)} on the ${s.blockwise!.ep} EP`);
      },
      // block by block, every segment passes over the rows: the bar counts rows x segments
      onProgress: (rows, total) => {
        h.check();
        bar.update(rows * c.seqLen, total * c.seqLen);
      },
    });
    bar.finish();
    h.check();
    execution = { ...executionReport(schedule!, measured), seconds: { calibration: (performance.now() - calibrationStart) / 1000, criterion: 0 } };
  } else if (taps.length > 0) {
    throw new ScoringError(`criterion "${criterion.name}" reads activations: give calibration text (--calib FILE)`);
  } else {
    statistics = { format: STATISTICS_FORMAT, tokens: 0, rows: 0, seqLen: 0, taps: {} };
  }
  // the criterion's own host-side step (llm-bip: spectral norms) gets a bar at its first report
  let stepBar: ReturnType<typeof h.progress> | undefined;
  const criterionStart = performance.now();
  const scored = await criterion.score(statistics, modelWeights(model.loaded.model, model.loaded.dir), model.spec, options, {
    // the criterion's own products (llm-bip's spectral norms) run where the probe ran, under its budget
    compute: {
      model: model.loaded,
      ep: req.ep ?? DEFAULTS.ep,
      ...(req.threads ? { threads: req.threads } : {}),
      maxDeviceMemory: req.maxDeviceMemory ?? DEFAULTS.maxDeviceMemory,
    },
    onLog: h.log,
    onProgress: (e) => {
      h.check();
      (stepBar ??= h.progress({ label: e.step, total: e.total, unit: e.unit })).update(e.done);
    },
  });
  stepBar?.finish();
  if (execution?.seconds) execution.seconds.criterion = (performance.now() - criterionStart) / 1000;
  const scores = withBlockNorms(scored, statistics);
  return { statistics, scores, ...(execution ? { execution } : {}) };
}

function executionReport(s: ExecutionSchedule, measured: ReadonlyArray<number | undefined>): ExecutionReport {
  const bw = s.blockwise;
  return {
    mode: s.mode,
    reason: s.reason,
    batchSize: s.batchSize,
    ...(s.budgetBytes !== undefined ? { budgetBytes: s.budgetBytes } : {}),
    ...(s.wholeBytes !== undefined ? { wholeBytes: s.wholeBytes } : {}),
    ...(bw
      ? {
          segments: segmentReports(bw, measured),
          estimatedPeakBytes: bw.peakBytes,
          ep: bw.ep,
        }
      : {}),
    // maxRSS is in kilobytes
    hostPeakRssBytes: process.resourceUsage().maxRSS * 1024,
  };
}

/** Score again from saved statistics (another option of a criterion whose taps they hold): no model run. */
export async function rescore(file: ScoresFile, model: ModelInput, criterionName: string, options?: Record<string, unknown>): Promise<ScoresFile> {
  const criterion = getCriterion(criterionName);
  const resolved = resolveCriterionOptions(criterion, options, { seed: file.calibration?.seed ?? DEFAULTS.calibration.seed });
  const scores = withBlockNorms(await criterion.score(file.statistics, modelWeights(model.loaded.model, model.loaded.dir), model.spec, resolved), file.statistics);
  return { ...file, scores };
}

/** The scores file content (`saveScores` writes it): model shape + fingerprint, calibration, statistics, scores. */
export function scoresFile(spec: ModelSpec, fingerprint: string, scored: Scored, calibration?: CalibrationSet): ScoresFile {
  return {
    format: SCORES_FORMAT,
    model: planModelShape(spec, fingerprint),
    ...(calibration ? { calibration: calibrationRecord(calibration) } : {}),
    statistics: scored.statistics,
    scores: scored.scores,
  };
}

/** Fill in mean_t ||y_t|| from the statistics for criteria that do not set it (random, wanda-sp, plug-ins), so every allocation works. */
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
