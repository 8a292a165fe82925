/** Plan: scores + ratio -> PruningPlan, with the allocation default decided in one place (allocationFor). */
import type { PruningPlan } from '@llm-bip/model';
import { compensationStats, makePlan, type AllocationMode, type GroupScores, type PlanModelShape, type ScoresFile, type Statistics } from '@llm-bip/scoring';
import type { CompensationStats } from '@llm-bip/model';
import { DEFAULTS, allocationFor, resolveAlign, type Align } from './defaults.js';

export interface PlanRequest {
  /** fraction of attention+MLP parameters to remove, in (0, 1) */
  ratio: number;
  /** default: the criterion's own (flap: al-am), else DEFAULTS.allocation */
  allocation?: AllocationMode;
  calibration?: PruningPlan['calibration'];
  /** kept FFN channels per layer rounded to a multiple of this, or 'auto' (resolveAlign); default DEFAULTS.align */
  align?: Align;
  /** the fraction of head groups to remove (uniform, global-kind); channels take the rest of `ratio`. Default: `ratio` for both kinds */
  headRatio?: number;
  /** recorded in the plan; default the calibration's seed */
  seed?: number;
  /** extra notes (the tool, the scores file) */
  notes?: Record<string, unknown>;
}

export function planFromScores(scores: GroupScores, model: PlanModelShape, req: PlanRequest): PruningPlan {
  const seed = req.seed ?? req.calibration?.seed;
  return makePlan(scores, model, {
    ratio: req.ratio,
    allocation: allocationFor(scores, req.allocation),
    align: resolveAlign(req.align ?? DEFAULTS.align, model),
    ...(req.headRatio !== undefined ? { headRatio: req.headRatio } : {}),
    ...(req.calibration ? { calibration: req.calibration } : {}),
    ...(seed !== undefined ? { seed } : {}),
    notes: { tool: 'llm-bip', ...req.notes },
  });
}

/** A plan from a saved scores file: its model shape, fingerprint and calibration record. */
export function planFromScoresFile(file: ScoresFile, req: Omit<PlanRequest, 'calibration'>): PruningPlan {
  return planFromScores(file.scores, file.model, { ...req, ...(file.calibration ? { calibration: file.calibration } : {}) });
}

/** FLAP's bias-compensation statistics (for surgery) from the statistics of a scoring run. */
export function compensationFrom(statistics: Statistics, model: Parameters<typeof compensationStats>[1]): CompensationStats {
  return compensationStats(statistics, model);
}
