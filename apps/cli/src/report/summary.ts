/**
 * Build ReportData pieces from what the packages produce (a PruningPlan, parameter counts, raw
 * scores). prune-llm calls these; they are pure so the report's inputs can be tested directly.
 */
import type { ParameterCounts, PruningPlan } from '@llm-bip/model';
import type { ParamSummary, PlanSummary, ScoreSummary } from './types.js';

/** Linear-interpolated quantile of sorted values (the "type 7" rule of R and NumPy). */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  const pos = (n - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.min(n - 1, lo + 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/**
 * Min, quartiles, max, mean and a histogram of `values`. Bins are equal-width, or equal-width in
 * log10 when every value is positive and they span more than two decades (scores often do).
 */
export function summariseScores(values: ArrayLike<number>, options: { bins?: number; threshold?: number } = {}): ScoreSummary {
  const sorted = Float64Array.from(values).sort();
  const n = sorted.length;
  if (n === 0) throw new RangeError('summariseScores: no values');
  const min = sorted[0]!;
  const max = sorted[n - 1]!;
  const bins = Math.max(1, options.bins ?? Math.min(24, Math.max(4, Math.ceil(Math.sqrt(n)))));
  const log = min > 0 && max / min > 100;
  const edges: number[] = [];
  for (let i = 0; i <= bins; i++) {
    const t = i / bins;
    edges.push(log ? 10 ** (Math.log10(min) + t * (Math.log10(max) - Math.log10(min))) : min + t * (max - min));
  }
  if (max === min) edges[bins] = max + (Math.abs(max) || 1) * 1e-9;
  const counts = new Array<number>(bins).fill(0);
  const pos = (v: number): number => (log ? (Math.log10(v) - Math.log10(min)) / (Math.log10(max) - Math.log10(min)) : (v - min) / (max - min || 1));
  for (const v of sorted) counts[Math.min(bins - 1, Math.max(0, Math.floor(pos(v) * bins)))]! += 1;
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    count: n,
    min,
    q1: quantile(sorted, 0.25),
    median: quantile(sorted, 0.5),
    q3: quantile(sorted, 0.75),
    max,
    mean: sum / n,
    histogram: { edges, counts },
    ...(options.threshold !== undefined ? { threshold: options.threshold } : {}),
  };
}

export function summarisePlan(plan: PruningPlan, extra: Pick<PlanSummary, 'compensation' | 'reconstruction'> = {}): PlanSummary {
  const seq = plan.notes?.sequential as { selectCriterion?: unknown } | undefined;
  return {
    criterion: plan.criterion,
    ratio: plan.ratio,
    allocation: plan.allocation,
    headGranularity: plan.headGranularity,
    ...(extra.compensation !== undefined ? { compensation: extra.compensation } : {}),
    ...(extra.reconstruction ? { reconstruction: extra.reconstruction } : {}),
    ...(plan.notes?.sequential ? { sequential: true } : {}),
    ...(typeof seq?.selectCriterion === 'string' ? { selectCriterion: seq.selectCriterion } : {}),
    ...(plan.calibration ? { calibration: plan.calibration } : {}),
    ...(plan.seed !== undefined ? { seed: plan.seed } : {}),
    ...(plan.createdAt ? { createdAt: plan.createdAt } : {}),
    ...(plan.notes ? { notes: plan.notes } : {}),
    layers: plan.layers.map((l) => ({
      layer: l.layer,
      heads: { kept: l.keepHeads.length, total: plan.model.numHeads[l.layer] ?? l.keepHeads.length },
      kvHeads: { kept: l.keepKvHeads.length, total: plan.model.numKvHeads[l.layer] ?? l.keepKvHeads.length },
      channels: { kept: l.keepChannels.length, total: plan.model.intermediateSize[l.layer] ?? l.keepChannels.length },
    })),
  };
}

export function summariseParams(counts: ParameterCounts): ParamSummary {
  return {
    total: counts.total,
    attention: counts.attention,
    mlp: counts.mlp,
    embeddings: counts.embeddings,
    perLayer: counts.perLayer.map((l) => ({ attention: l.attention, mlp: l.mlp })),
  };
}
