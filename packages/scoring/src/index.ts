export * from './types.js';
export * from './errors.js';
export { mulberry32, seededRng, type Rng } from './rng.js';
export { modelWeights, canonicalLinear, perInputSum, perOutputSum, type LinearWeight, type WeightSource } from './weights.js';
export {
  spectralNorm,
  spectralNormEstimate,
  spectralNorms,
  DEFAULT_SPECTRAL_TOLERANCE,
  type PowerIterationOptions,
  type SpectralEstimate,
  type SpectralNormsOptions,
} from './spectral.js';
export { sampleCalibration, type CalibrationOptions, type CalibrationSet } from './calibration.js';
export {
  baseTaps,
  uniqueTaps,
  StatisticsAccumulator,
  mergeStatistics,
  tapValues,
  compensationStats,
  blockOutputNorm,
  saveStatistics,
  loadStatistics,
  writeJsonAtomic,
} from './statistics.js';
export { buildProbe, PROBE_OUTPUT_PREFIX, type MomentTap, type ProbeModel, type ProbeOptions } from './probe/build-probe.js';
export { headGrams, hostHeadGram } from './probe/head-gram.js';
export { weightStatistics, WeightStatistics, type Projection, type WeightStat, type WeightStatsOptions } from './weight-stats.js';
export { writeProbeFile, type ProbeFile } from './probe/probe-file.js';
export { batchSets, collectInputMoments, collectStatistics, MomentAccumulator, setsBatchSize, type CollectOptions, type ExecutionSchedule, type MomentsOptions, type ProjectionMoments } from './probe/collect.js';
export { ProbeBlocks, scoringRefusal, segmentModel, type BlockRange, type CarriedType, type ProbeSegment } from './blockwise/partition.js';
export { patchSegment, type ProjectionPatch } from './blockwise/patch.js';
export { BlockwiseProbe, runSegments, SegmentRunner, type BlockwiseRunOptions, type SegmentBatchRun, type SegmentHooks, type SegmentResult, type SegmentRunOptions } from './blockwise/run.js';
export {
  blockActivationBytes,
  CUDA_ARENA_FACTOR,
  CUDA_FIXED_BYTES,
  describeSegment,
  epMemoryProfile,
  estimateSegments,
  formatBytes,
  hiddenStateBytes,
  minimumBudget,
  parseMemoryBudget,
  probeOutputs,
  resolveBudget,
  scheduleByBudget,
  scheduleByCount,
  segmentReports,
  sessionMemory,
  wholeModel,
  wholeModelBytes,
  type BlockOutputs,
  type BlockSchedule,
  type EpMemoryProfile,
  type MemoryBudget,
  type ScheduleInput,
  type SegmentEstimate,
  type SegmentReport,
  type SessionMemory,
} from './blockwise/schedule.js';
export { probeOverhead, type ProbeOverhead } from './probe/overhead.js';
export {
  getCriterion,
  listCriteria,
  registerCriterion,
  loadCriterionPlugin,
  resolveCriterionOptions,
  parseCriterionOption,
  criterionOptionFlag,
  criteriaDeclaring,
} from './criteria/registry.js';
export { llmBip } from './criteria/llm-bip.js';
export { wandaSp } from './criteria/wanda-sp.js';
export { flap, standardise } from './criteria/flap.js';
export { magnitude } from './criteria/magnitude.js';
export { random } from './criteria/random.js';
export {
  allocate,
  roundHalfEven,
  headGroupParams,
  channelParams,
  ALLOCATIONS,
  type AllocationMode,
  type AllocationOptions,
  type PlanOptions,
  type Removal,
} from './allocation/allocate.js';
export { makePlan, removedFraction } from './allocation/plan.js';
export { reselectLayer } from './allocation/reselect.js';
export { saveScores, loadScores, SCORES_FORMAT, type ScoresFile } from './scores-file.js';
export { probeFeeds } from './probe/feeds.js';
export { batchSizeFor } from './probe/collect.js';
// reading untrusted inputs: the long-document threshold of calibration, the scores-file check
export { LONG_DOCUMENT_CHARS } from './calibration.js';
export { parseScores } from './scores-file.js';
