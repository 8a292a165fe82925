/** GroupScores + allocation -> PruningPlan (plan.ts format), validated against the model shape. */
import { PLAN_FORMAT, range, type PruningPlan } from '@llm-bip/model';
import type { GroupScores, PlanModelShape } from '../types.js';
import { allocate, unitParams, type PlanOptions, type Removal } from './allocate.js';

export function makePlan(scores: GroupScores, model: PlanModelShape, opts: PlanOptions): PruningPlan {
  const removal = allocate(scores, model, opts);
  const layers = range(model.numLayers).map((l) => {
    const rep = model.numHeads[l]! / model.numKvHeads[l]!;
    const keepKvHeads = range(model.numKvHeads[l]!).filter((g) => !removal.heads[l]!.has(g));
    return {
      layer: l,
      keepHeads: keepKvHeads.flatMap((g) => range(rep).map((r) => g * rep + r)),
      keepKvHeads,
      keepChannels: range(model.intermediateSize[l]!).filter((k) => !removal.channels[l]!.has(k)),
    };
  });
  return {
    format: PLAN_FORMAT,
    model,
    criterion: scores.criterion,
    ratio: opts.ratio,
    allocation: opts.allocation,
    headGranularity: scores.headGranularity,
    ...(opts.calibration ? { calibration: opts.calibration } : {}),
    ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
    createdAt: opts.createdAt ?? new Date().toISOString(),
    notes: {
      achievedRatio: removedFraction(removal, model),
      ...(opts.skipFirst ? { skipFirst: opts.skipFirst } : {}),
      ...(opts.skipLast ? { skipLast: opts.skipLast } : {}),
      minKeep: opts.minKeep ?? 1,
      ...(opts.align && opts.align > 1 ? { align: opts.align } : {}),
      ...(opts.headRatio !== undefined ? { headRatio: opts.headRatio } : {}),
      ...(scores.options ? { criterionOptions: withoutBulk(scores.options) } : {}),
      ...opts.notes,
    },
    layers,
  };
}

/** Fraction of attention + MLP parameters a removal takes. */
export function removedFraction(removal: Removal, model: PlanModelShape): number {
  let removed = 0;
  let total = 0;
  const params = unitParams(model);
  for (let l = 0; l < model.numLayers; l++) {
    const p = params[l]!;
    removed += removal.heads[l]!.size * p.head + removal.channels[l]!.size * p.channel;
    total += model.numKvHeads[l]! * p.head + model.intermediateSize[l]! * p.channel;
  }
  return removed / total;
}

function withoutBulk(o: Record<string, unknown>): Record<string, unknown> {
  const { spectralNorms: _s, ...rest } = o;
  return rest;
}
