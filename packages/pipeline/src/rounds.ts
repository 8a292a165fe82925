/**
 * One round of prune-llm (score -> plan -> sequential pass or reconstruction -> surgery) and iterative
 * pruning: the ratio reached in N such rounds, each on the model the round before wrote (pruneInRounds).
 *
 * Why rounds: a criterion scores the model it is given; after a round the survivors' scores (and the
 * compensation means, the fits) are measured on the pruned model, not on the dense one. Measured on
 * bip-llama-small at 50 % with --reconstruct --sequential (BENCHMARKS.md "Issue 16, sixth / seventh round"):
 * from 128 samples three rounds help with a small fixed ridge (130.98 / 350.73 against 134.27 / 360.56 in
 * one), not with the held-out ridge choice (134.90 / 375.44); from 512 samples they help with either
 * (124.43 / 341.25 with the choice, seed 0).
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { categorisedError } from '@llm-bip/onnx-io';
import { composePlans, modelFingerprint, planCuts, planModelShape, type PruningPlan } from '@llm-bip/model';
import type { CalibrationSet, GroupScores, Statistics } from '@llm-bip/scoring';
import type { PruneResult, PruningRecord } from '@llm-bip/surgery';
import { calibrationRecord } from './calibrate.js';
import { DEFAULTS } from './defaults.js';
import { hooksOf, type PipelineHooks } from './hooks.js';
import { loadModelInput } from './load.js';
import { planFromScores } from './plan.js';
import { pruneTo } from './prune.js';
import { reconstructFor, type ReconstructRequest } from './reconstruct.js';
import { scoreModel, type ExecutionReport, type ModelInput } from './score.js';
import { sequentialPrune } from './sequential.js';
import type { PruneLlmRequest } from './prune-llm.js';

/** A `steps` that is not a whole number >= 1, or a round's model that cannot be loaded again. */
export class RoundsError extends categorisedError('RoundsError', 'input') {}

/** What one round made: its scores (of the model it pruned), its plan (against that model) and the written model. */
export interface Round {
  statistics: Statistics;
  scores: GroupScores;
  execution?: ExecutionReport;
  plan: PruningPlan;
  pruned: PruneResult;
}

/** What every round shares: the request, the calibration windows (drawn once) and the reconstruction settings. */
export interface RoundSettings {
  req: PruneLlmRequest;
  calibration: CalibrationSet;
  reconstruct: ReconstructRequest | undefined;
}

/** One entry of PruneLlmResult.rounds and of the composite plan's notes.rounds. */
export interface RoundRecord {
  /** the fraction of the round's input model's attention+MLP parameters it was asked to remove */
  ratio: number;
  /** the fraction of the original model's the rounds so far were to remove: ratio * k / steps */
  cumulative: number;
  /** the fraction of the original model's removed after this round (the composite plan's) */
  achievedRatio: number;
}

/** A round's record alone (a Round without its plan): what plan.json's notes.rounds and results.json's plan.rounds hold. */
export function roundRecord(r: RoundRecord): RoundRecord {
  return { ratio: r.ratio, cumulative: r.cumulative, achievedRatio: r.achievedRatio };
}

/** `steps` as given (DEFAULTS.steps when absent), checked: a whole number >= 1. */
export function checkSteps(steps: number | undefined): number {
  const s = steps ?? DEFAULTS.steps;
  if (!(Number.isInteger(s) && s >= 1)) throw new RoundsError(`steps must be a whole number >= 1 (the rounds that reach the ratio; 1: one round), got ${String(s)}`);
  return s;
}

/**
 * Score `input`, plan `ratio` of its attention+MLP parameters, run the sequential pass or the
 * reconstruction when asked, and write the pruned model to `outPath`. `onPlan` sees the plan before
 * surgery starts.
 */
export async function pruneRound(
  input: ModelInput & { fingerprint?: string },
  ratio: number,
  outPath: string,
  { req, calibration, reconstruct }: RoundSettings,
  hooks: PipelineHooks,
  onPlan?: (plan: PruningPlan) => Promise<void> | void,
  describeRun?: (record: PruningRecord) => PruningRecord,
): Promise<Round> {
  const h = hooksOf(hooks);
  const { statistics, scores, execution } = await scoreModel(
    input,
    {
      criterion: req.criterion ?? DEFAULTS.criterion,
      ...(req.criterionOptions ? { options: req.criterionOptions } : {}),
      calibration,
      ep: req.ep ?? DEFAULTS.ep,
      ...blockwiseOf(req),
    },
    hooks,
  );
  const fingerprint = input.fingerprint ?? (await modelFingerprint(input.loaded.path, input.loaded.model, input.loaded.dir));
  const oneShot = planFromScores(scores, planModelShape(input.spec, fingerprint), {
    ratio,
    ...(req.allocation ? { allocation: req.allocation } : {}),
    ...(req.align !== undefined ? { align: req.align } : {}),
    calibration: calibrationRecord(calibration),
    seed: calibration.seed,
  });
  const sequential = (req.sequential ?? DEFAULTS.sequential)
    ? await sequentialPrune(
        input,
        calibration,
        {
          plan: oneShot,
          scores,
          ...(req.criterionOptions ? { criterionOptions: req.criterionOptions } : {}),
          ...(req.selectCriterion !== undefined ? { selectCriterion: req.selectCriterion } : {}),
          ...(req.compensate !== undefined ? { compensate: req.compensate } : {}),
          ...(reconstruct ? { reconstruct } : {}),
          ep: req.ep ?? DEFAULTS.ep,
        },
        hooks,
      )
    : undefined;
  const plan = sequential?.plan ?? oneShot;
  await onPlan?.(plan);
  h.check();
  const reconstruction = sequential ? sequential.reconstruction : reconstruct ? await reconstructFor(input, plan, calibration, reconstruct, hooks) : undefined;
  let pruned: PruneResult;
  try {
    // sequential: the compensation means are those of the pass, measured on the pruned blocks' outputs
    const bias = reconstruction ? { reconstruction } : (req.compensate ?? DEFAULTS.compensate) ? { compensation: sequential?.statistics ?? statistics } : {};
    pruned = await pruneTo(input, { plan, outPath, ...bias, ...(describeRun ? { describeRun } : {}) }, hooks);
  } finally {
    reconstruction?.dispose();
  }
  return { statistics, scores, ...(execution ? { execution } : {}), plan, pruned };
}

/**
 * `req.ratio` reached in `steps` rounds. Round k (1..steps) prunes round k-1's model so that the removed
 * fraction of the ORIGINAL model's attention+MLP parameters becomes r_k = ratio * k / steps. A plan's
 * ratio is a fraction of the model it is made for (allocation.ts), and a head group or channel owns the
 * same parameters before and after pruning, so round k asks for (r_k - a) / (1 - a) of its input, where
 * a is the fraction the rounds before removed: r_{k-1} as planned, the achieved one in fact (a round
 * removes whole groups, so the next round makes up for its rounding).
 *
 * Intermediate models go into a temporary folder beside `req.outPath` (`.llm-bip-rounds-*`), each
 * removed once the next round has written its own, the folder removed at the end, also on failure or
 * abort. The last round writes `req.outPath`.
 *
 * Returns the last round (its scores are of round steps-1's model), with `plan` the composite plan
 * against the original model (composePlans; ratio = req.ratio; notes.rounds, notes.achievedRatio of the
 * original) and `pruned.record` describing the whole run (pruning record of the original -> the last
 * model; the last surgery writes it as the sidecar and the model's llm_bip.pruning.* metadata), and every
 * round's own plan.
 */
export async function pruneInRounds(
  input: ModelInput & { fingerprint: string },
  steps: number,
  settings: RoundSettings,
  hooks: PipelineHooks & { onPlan?(plan: PruningPlan): Promise<void> | void },
): Promise<Round & { rounds: Array<RoundRecord & { plan: PruningPlan }> }> {
  const h = hooksOf(hooks);
  const { req } = settings;
  const parent = dirname(resolve(req.outPath));
  await mkdir(parent, { recursive: true });
  const tmp = await mkdtemp(join(parent, '.llm-bip-rounds-'));
  try {
    let current: ModelInput & { fingerprint: string } = input;
    let composite: PruningPlan | undefined;
    let first: PruneResult | undefined;
    let previousDir: string | undefined;
    const rounds: Array<RoundRecord & { plan: PruningPlan }> = [];
    for (let k = 1; ; k++) {
      h.check();
      // the fraction of the original the rounds so far removed (the composite plan's, recorded with each round)
      const achieved = rounds.at(-1)?.achievedRatio ?? 0;
      const cumulative = (req.ratio * k) / steps;
      const ratio = Math.max(0, (cumulative - achieved) / (1 - achieved));
      h.log(`round ${k}/${steps}: ${pct(ratio)} of the current model (${pct(cumulative)} of the original)`);
      const last = k === steps;
      const dir = join(tmp, `round-${k}`);
      let whole: PruningPlan | undefined;
      let overall: PruningPlan | undefined;
      const round = await pruneRound(current, ratio, last ? req.outPath : join(dir, 'model.onnx'), settings, hooks, async (plan) => {
        whole = composite ? composePlans(composite, plan) : plan;
        rounds.push({ ratio, cumulative, achievedRatio: planCuts(whole).parameters.fraction, plan });
        if (!last) return;
        // plan.json (the CLI's onPlan) is the composite plan, written before the last surgery as in one round
        overall = overallPlan(whole, req.ratio, rounds);
        await hooks.onPlan?.(overall);
      }, last && first ? (made) => wholeRunRecord(first!.record, made, overall!) : undefined);
      composite = whole!;
      first ??= round.pruned;
      if (previousDir) await rm(previousDir, { recursive: true, force: true });
      if (last) return { ...round, plan: overall!, rounds };
      current = await reload(round.pruned.modelPath, k);
      previousDir = dir;
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** Round k's model, loaded as the CLI loads a model; refused with the fix when llm-bip cannot read it back. */
async function reload(path: string, k: number): Promise<ModelInput & { fingerprint: string }> {
  try {
    const m = await loadModelInput(path);
    return { ...m, fingerprint: await modelFingerprint(m.loaded.path, m.loaded.model, m.loaded.dir) };
  } catch (e) {
    throw new RoundsError(`the model pruned in round ${k} cannot be loaded again for the next round (${(e as Error).message}): prune this model in one round (steps 1, no --steps)`, { cause: e });
  }
}

/** The composite plan as plan.json records it: the requested overall ratio, the rounds, the achieved fraction of the original (the last round's). */
function overallPlan(composite: PruningPlan, ratio: number, rounds: RoundRecord[]): PruningPlan {
  const achievedRatio = rounds.at(-1)!.achievedRatio;
  return { ...composite, ratio, notes: { ...composite.notes, achievedRatio, rounds: rounds.map(roundRecord) } };
}

/** The pruning record of the whole run: the first round's input and parameters before, the last round's after, the composite plan. */
function wholeRunRecord(first: PruningRecord, last: PruningRecord, plan: PruningPlan): PruningRecord {
  const before = first.parameters.before;
  const after = last.parameters.after;
  const attnMlp = (s: typeof before) => s.attention + s.mlp;
  return {
    ...last,
    input: first.input,
    plan: {
      ...last.plan,
      ratio: plan.ratio,
      modelFingerprint: plan.model.fingerprint,
      ...(first.plan.madeForThisModel !== undefined ? { madeForThisModel: first.plan.madeForThisModel } : {}),
      ...(plan.notes ? { notes: plan.notes } : {}),
    },
    parameters: {
      before,
      after,
      removedFraction: attnMlp(before) === 0 ? 0 : 1 - attnMlp(after) / attnMlp(before),
      storedElements: { before: first.parameters.storedElements.before, after: last.parameters.storedElements.after },
    },
    layers: last.layers.map((l, i) => {
      const f = first.layers[i]!;
      return { ...l, heads: [f.heads[0], l.heads[1]], kvHeads: [f.kvHeads[0], l.kvHeads[1]], channels: [f.channels[0], l.channels[1]] };
    }),
  };
}

/** The probe's memory options, shared by scoring and the reconstruction statistics. */
export function blockwiseOf(req: Pick<PruneLlmRequest, 'maxDeviceMemory' | 'blocksPerSession'>): Pick<PruneLlmRequest, 'maxDeviceMemory' | 'blocksPerSession'> {
  return {
    ...(req.maxDeviceMemory !== undefined ? { maxDeviceMemory: req.maxDeviceMemory } : {}),
    ...(req.blocksPerSession !== undefined ? { blocksPerSession: req.blocksPerSession } : {}),
  };
}

const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
