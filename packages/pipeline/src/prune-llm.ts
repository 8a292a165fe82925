/**
 * The whole run as one function: calibrate -> score -> plan -> prune -> evaluate dense and pruned ->
 * bench dense and pruned. The model is loaded, recognised and fingerprinted once, the tokenizer parsed
 * once, by the caller; every step below reuses them.
 */
import type { EvalTokenizer, SpeedResult } from '@llm-bip/eval';
import { modelFingerprint, planModelShape, type PruningPlan } from '@llm-bip/model';
import type { EpChoice, KvLayout } from '@llm-bip/runtime';
import type { AllocationMode, CalibrationSet, GroupScores, MemoryBudget, Statistics } from '@llm-bip/scoring';
import type { PruneResult } from '@llm-bip/surgery';
import { calibrate, calibrationRecord, type CalibrationRequest } from './calibrate.js';
import { DEFAULTS, type Align } from './defaults.js';
import { benchModel, evaluateModel, type BenchRequest, type EvalRequest, type EvalRun } from './evaluate.js';
import { hooksOf, type PipelineHooks } from './hooks.js';
import { batchForModel, benchDemand, calibrationDemand, evalDemands, holdoutDemands, inputsOfModel } from './input-demands.js';
import { planFromScores } from './plan.js';
import { pruneTo } from './prune.js';
import { checkReconstructRequest, holdoutRowsFor, reconstructFor, type ReconstructRequest } from './reconstruct.js';
import { scoreModel, type ExecutionReport, type ModelInput } from './score.js';
import { checkSequential, sequentialPrune } from './sequential.js';

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
}

export interface PruneLlmResult {
  calibration: CalibrationSet;
  statistics: Statistics;
  scores: GroupScores;
  /** how scoring ran the probe (whole or block by block) */
  execution?: ExecutionReport;
  plan: PruningPlan;
  pruned: PruneResult;
  eval?: { seqLen: number; limit?: number; dense: EvalRun; pruned: EvalRun };
  speed?: { dense: SpeedResult; pruned: SpeedResult; prompt: number; decode: number; batch: number };
}

export interface PruneLlmHooks extends PipelineHooks {
  /** the plan, before surgery starts (the CLI writes plan.json then) */
  onPlan?(plan: PruningPlan): Promise<void> | void;
}

export async function pruneLlm(input: PruneLlmInput, req: PruneLlmRequest, hooks: PruneLlmHooks = {}): Promise<PruneLlmResult> {
  const h = hooksOf(hooks);
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
  if (req.sequential ?? DEFAULTS.sequential) checkSequential(input);
  const calibration = await calibrate(input.tokenizer, req.calibration);
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
    ratio: req.ratio,
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
          ...(req.compensate !== undefined ? { compensate: req.compensate } : {}),
          ...(reconstruct ? { reconstruct } : {}),
          ep: req.ep ?? DEFAULTS.ep,
        },
        hooks,
      )
    : undefined;
  const plan = sequential?.plan ?? oneShot;
  await hooks.onPlan?.(plan);
  h.check();
  const reconstruction = sequential ? sequential.reconstruction : reconstruct ? await reconstructFor(input, plan, calibration, reconstruct, hooks) : undefined;
  let pruned: PruneResult;
  try {
    // sequential: the compensation means are those of the pass, measured on the pruned blocks' outputs
    const bias = reconstruction ? { reconstruction } : (req.compensate ?? DEFAULTS.compensate) ? { compensation: sequential?.statistics ?? statistics } : {};
    pruned = await pruneTo(input, { plan, outPath: req.outPath, ...bias }, hooks);
  } finally {
    reconstruction?.dispose();
  }

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
  return { calibration, statistics, scores, ...(execution ? { execution } : {}), plan, pruned, ...(evaluation ? { eval: evaluation } : {}), ...(speed ? { speed } : {}) };
}

/** The probe's memory options, shared by scoring and the reconstruction statistics. */
function blockwiseOf(req: Pick<PruneLlmRequest, 'maxDeviceMemory' | 'blocksPerSession'>): Pick<PruneLlmRequest, 'maxDeviceMemory' | 'blocksPerSession'> {
  return {
    ...(req.maxDeviceMemory !== undefined ? { maxDeviceMemory: req.maxDeviceMemory } : {}),
    ...(req.blocksPerSession !== undefined ? { blocksPerSession: req.blocksPerSession } : {}),
  };
}

function kvOf(input: PruneLlmInput, plan: PruningPlan | undefined): { kv?: KvLayout } {
  const kv = input.kvLayout?.(plan);
  return kv ? { kv } : {};
}
