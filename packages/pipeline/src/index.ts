export { DEFAULTS, AUTO_ALIGN, allocationFor, evalMemoryBudget, parseAlign, resolveAlign, type Align } from './defaults.js';
export { hooksOf, type PipelineHooks, type ProgressTask } from './hooks.js';
export { calibrate, calibrationFile, calibrationRecord, type CalibrationRequest } from './calibrate.js';
export { scoreModel, rescore, scoresFile, type ExecutionReport, type ModelInput, type ScoreRequest, type Scored } from './score.js';
export { planFromScores, planFromScoresFile, compensationFrom, type PlanRequest } from './plan.js';
export { pruneTo, type PruneRequest } from './prune.js';
export { sequentialPrune, type SequentialHooks, type SequentialRequest, type SequentialResult } from './sequential.js';
export { reconstructFor, collectReconstructionMoments, checkReconstructRequest, holdoutRowsFor, type ReconstructRequest } from './reconstruct.js';
export {
  evaluateModel,
  evaluationSession,
  benchModel,
  logitsVocab,
  windowBatchOf,
  type EvalRequest,
  type BlockwiseReport,
  type EvalRun,
  type EvaluateOptions,
  type BenchRequest,
  type ModelFile,
} from './evaluate.js';
export { pruneLlm, SelectCriterionError, type PruneLlmInput, type PruneLlmRequest, type PruneLlmResult, type PruneLlmHooks } from './prune-llm.js';
export { checkSteps, pruneInRounds, pruneRound, roundRecord, RoundsError, type Round, type RoundRecord, type RoundSettings } from './rounds.js';
export { loadModelInput } from './load.js';
export { exportCached, checkpointKey, type CachedExport, type CachedExportOptions } from './export-cache.js';
export { loadBlockwiseModel, planEvaluation, windowsPerPass, type BlockwiseEvalOptions, type BlockwiseModel, type EvalExecution } from './evaluate-blockwise.js';
