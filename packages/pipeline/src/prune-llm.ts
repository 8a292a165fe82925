/**
 * The whole run as one function: calibrate -> score -> plan -> prune -> evaluate dense and pruned ->
 * bench dense and pruned. The model is loaded, recognised and fingerprinted once, the tokenizer parsed
 * once, by the caller; every step below reuses them. With `steps` > 1 the score -> plan -> prune part
 * runs once per round, on the model the round before wrote (rounds.ts); calibration, evaluation and the
 * speed bench run once.
 */
import type { EvalTokenizer, SpeedResult } from '@llm-bip/eval';
import { modelFingerprint, type PruningPlan } from '@llm-bip/model';
import type { EpChoice, KvLayout } from '@llm-bip/runtime';
import { categorisedError } from '@llm-bip/onnx-io';
import { getCriterion, type AllocationMode, type CalibrationSet, type GroupScores, type MemoryBudget, type Statistics } from '@llm-bip/scoring';
import type { PruneResult } from '@llm-bip/surgery';
import { calibrate, type CalibrationRequest } from './calibrate.js';
import { DEFAULTS, type Align } from './defaults.js';
import { benchModel, evaluateModel, type BenchRequest, type EvalRequest, type EvalRun } from './evaluate.js';
import type { PipelineHooks } from './hooks.js';
import { batchForModel, benchDemand, calibrationDemand, evalDemands, holdoutDemands, inputsOfModel } from './input-demands.js';
import { checkReconstructRequest, holdoutRowsFor, type ReconstructRequest } from './reconstruct.js';
import { blockwiseOf, checkSteps, pruneInRounds, pruneRound, type Round, type RoundRecord } from './rounds.js';
import type { ExecutionReport, ModelInput } from './score.js';
import { checkSequential } from './sequential.js';

/** A `selectCriterion` without the sequential pass it chooses in. */
export class SelectCriterionError extends categorisedError('SelectCriterionError', 'input') {}

export interface PruneLlmInput extends ModelInput {
  tokenizer: EvalTokenizer;
  /** the model's fingerprint when the caller has it (computed here otherwise) */
  fingerprint?: string;
  /** the KV-cache layout of the dense model (no plan) and of the pruned one; none when absent */
  kvLayout?: (plan?: PruningPlan) => KvLayout | undefined;
}

export interface PruneLlmRequest {
  ratio: number;
  /** DEFAULTS.criterion */
  criterion?: string;
  criterionOptions?: Record<string, unknown>;
  /** default: the criterion's own, else DEFAULTS.allocation */
  allocation?: AllocationMode;
  /** kept FFN channels per layer a multiple of this, or 'auto'; default DEFAULTS.align */
  align?: Align;
  /** bias compensation (DEFAULTS.compensate); ignored when reconstructing (the fit has its own bias) */
  compensate?: boolean;
  /** least-squares reconstruction of o_proj / down_proj (DEFAULTS.reconstruct); an object sets its options */
  reconstruct?: boolean | ReconstructRequest;
  /**
   * sequential pruning (DEFAULTS.sequential): the one-shot plan's allocation, each block's choice made
   * again on the pruned blocks' outputs, its fit or compensation too (sequential.ts)
   */
  sequential?: boolean;
  /**
   * with `sequential`: the criterion that rescores each block and chooses its kept groups (the allocation stays
   * `criterion`'s one-shot plan); default `criterion`. BENCHMARKS.md "Issue 16": Wanda-sp inside LLM-BIP's
   * allocation gained WikiText-2 and lost PTB on bip-llama-small.
   */
  selectCriterion?: string;
  calibration: CalibrationRequest;
  /** the pruned .onnx file to write */
  outPath: string;
  /** evaluate dense and pruned; skipped when absent or when it names no set and no task */
  eval?: EvalRequest;
  /** measure dense and pruned speed; skipped when absent */
  bench?: BenchRequest;
  /** execution provider of the probe (DEFAULTS.ep) */
  ep?: EpChoice;
  /** device memory scoring may use (DEFAULTS.maxDeviceMemory) */
  maxDeviceMemory?: MemoryBudget;
  /** score block by block with this many blocks per session */
  blocksPerSession?: number;
  /**
   * reach `ratio` in this many rounds (DEFAULTS.steps = 1: one round); a whole number >= 1. Round k
   * (1..steps) scores and prunes the model round k-1 wrote, so that the removed fraction of the ORIGINAL
   * model's attention+MLP parameters becomes ratio * k / steps: of its own input it removes
   * (r_k - r_{k-1}) / (1 - r_{k-1}), with r_{k-1} the fraction achieved so far (pruneInRounds). Every
   * round uses the rest of this request as given (criterion and options, allocation, align, compensate,
   * reconstruct, sequential, ep, memory) and the same calibration windows, drawn once. Intermediate
   * models go to a temporary `.llm-bip-rounds-*` folder beside `outPath`, removed at the end (also on
   * failure); the last round writes `outPath`. Evaluation and the bench compare the original model with
   * the last round's.
   */
  steps?: number;
}

export interface PruneLlmResult {
  calibration: CalibrationSet;
  /** with steps > 1: the last round's, of the model round steps-1 wrote (their indices are that model's) */
  statistics: Statistics;
  /** with steps > 1: the last round's (as `statistics`); its plan is `rounds[steps - 1].plan` */
  scores: GroupScores;
  /** how scoring ran the probe (whole or block by block); the last round's */
  execution?: ExecutionReport;
  /**
   * against the original model; with steps > 1 the rounds' plans composed (composePlans), `ratio` the
   * requested one, `notes.rounds` each round's ratio / cumulative / achievedRatio and `notes.achievedRatio`
   * the fraction of the original removed
   */
  plan: PruningPlan;
  /** the written model; with steps > 1 its `record` (and sidecar) covers the whole run: original -> last model */
  pruned: PruneResult;
  eval?: { seqLen: number; limit?: number; dense: EvalRun; pruned: EvalRun };
  speed?: { dense: SpeedResult; pruned: SpeedResult; prompt: number; decode: number; batch: number };
  /** steps > 1: each round's relative ratio, cumulative target, achieved fraction of the original, and its own plan (against its input model) */
  rounds?: Array<RoundRecord & { plan: PruningPlan }>;
}

export interface PruneLlmHooks extends PipelineHooks {
  /** the plan, before surgery starts (the CLI writes plan.json then); with steps > 1 once, the composite plan, before the last round's surgery */
  onPlan?(plan: PruningPlan): Promise<void> | void;
}

export async function pruneLlm(input: PruneLlmInput, req: PruneLlmRequest, hooks: PruneLlmHooks = {}): Promise<PruneLlmResult> {
  const steps = checkSteps(req.steps);
  const reconstruct = (req.reconstruct ?? DEFAULTS.reconstruct) === false ? undefined : { ep: req.ep ?? DEFAULTS.ep, ...blockwiseOf(req), ...(typeof req.reconstruct === 'object' ? req.reconstruct : {}) };
  if (reconstruct) checkReconstructRequest(reconstruct, req.calibration.samples ?? DEFAULTS.calibration.samples);
  // a model with fixed input dims must take every step's rows; find out now, not after the scoring
  batchForModel(
    inputsOfModel(input.loaded.model),
    input.spec,
    [
      calibrationDemand(req.calibration),
      ...(reconstruct ? holdoutDemands(req.calibration, holdoutRowsFor(req.calibration.samples ?? DEFAULTS.calibration.samples, reconstruct)) : []),
      ...(req.eval ? evalDemands(req.eval, '--seq-len-eval') : []),
      ...(req.bench ? [benchDemand(req.bench)] : []),
    ],
    undefined,
    input.loaded.path,
  );
  if (req.selectCriterion !== undefined) {
    if (!(req.sequential ?? DEFAULTS.sequential)) throw new SelectCriterionError(`selectCriterion (${req.selectCriterion}) chooses inside each block of the sequential pass: ask for sequential pruning too, or leave it out`);
    getCriterion(req.selectCriterion); // an unknown name fails now, not after the scoring
  }
  if (req.sequential ?? DEFAULTS.sequential) checkSequential(input);
  const calibration = await calibrate(input.tokenizer, req.calibration);
  const settings = { req, calibration, reconstruct };
  const done: Round & Pick<PruneLlmResult, 'rounds'> =
    steps === 1
      ? await pruneRound(input, req.ratio, req.outPath, settings, hooks, (plan) => hooks.onPlan?.(plan))
      : await pruneInRounds({ ...input, fingerprint: input.fingerprint ?? (await modelFingerprint(input.loaded.path, input.loaded.model, input.loaded.dir)) }, steps, settings, hooks);
  const { statistics, scores, execution, plan, pruned } = done;

  const dense = { path: input.loaded.path, ...kvOf(input, undefined) };
  const small = { path: pruned.modelPath, ...kvOf(input, plan) };
  let evaluation: PruneLlmResult['eval'];
  if (req.eval && (req.eval.ppl.length || req.eval.tasks.length)) {
    const d = await evaluateModel(dense, input.tokenizer, req.eval, hooks, { label: 'dense ' });
    const p = await evaluateModel(small, input.tokenizer, req.eval, hooks, { label: 'pruned ' });
    evaluation = { seqLen: req.eval.seqLen ?? DEFAULTS.eval.seqLen, ...(req.eval.limit !== undefined ? { limit: req.eval.limit } : {}), dense: d, pruned: p };
  }
  let speed: PruneLlmResult['speed'];
  if (req.bench) {
    const d = await benchModel(dense, req.bench, hooks, { label: 'dense ' });
    const p = await benchModel(small, req.bench, hooks, { label: 'pruned ' });
    const b = { ...DEFAULTS.bench, ...req.bench };
    speed = { dense: d, pruned: p, prompt: b.prompt, decode: b.decode, batch: b.batch };
  }
  return {
    calibration,
    statistics,
    scores,
    ...(execution ? { execution } : {}),
    plan,
    pruned,
    ...(evaluation ? { eval: evaluation } : {}),
    ...(speed ? { speed } : {}),
    ...(done.rounds ? { rounds: done.rounds } : {}),
  };
}

function kvOf(input: PruneLlmInput, plan: PruningPlan | undefined): { kv?: KvLayout } {
  const kv = input.kvLayout?.(plan);
  return kv ? { kv } : {};
}
