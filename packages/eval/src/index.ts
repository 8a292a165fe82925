export { DatasetError, EvalError, TokenizerError } from './errors.js';
export { loadTokenizer, type EncodeOptions, type EvalTokenizer } from './tokenizer.js';
export { encodeCached, type CachedEncodeOptions } from './token-cache.js';
export { joinRows, readJsonl, readLabelLines, readParquetRows, readPtbLines, readWikitextRows, splitLines } from './datasets/readers.js';
export {
  isPerplexitySetName,
  loadTextDataset,
  locatePerplexitySet,
  perplexitySetFiles,
  type PerplexitySetName,
  type TextDataset,
} from './datasets/perplexity-sets.js';
export { evaluatePerplexity, splitWindows, windowNlls, type PerplexityOptions, type PerplexityResult } from './perplexity.js';
export { MAX_WINDOW_BATCH, windowBatchFor, windowBytes, type ActivationWidths } from './window-batch.js';
export { createScoringSession, forwardTokenScores, hasScoringHead, type ScoringSession, type TokenScores } from './token-scores.js';
export { addTokenScoringHead, findLogitsOutput, ARGMAX_OUTPUT, TARGETS_INPUT, TOKEN_LOGPROB_OUTPUT } from './scoring-head.js';
export { encodePair, scoreRequests, type EncodedRequest, type LoglikelihoodResult, type ScoreOptions } from './loglikelihood.js';
export { argmax, charLength, meanStderr, scoreItem, utf8Length, type ItemScore } from './metrics.js';
export * from './tasks/templates.js';
export { hellaswagJsonl, loadTaskItems, missingTaskFiles, readHellaswagText, taskFiles } from './tasks/loaders.js';
export { findHfParquet, taskItemsFromHfRows } from './tasks/hf-rows.js';
export { taskNames, type LoglikelihoodRequest, type TaskItem, type TaskName } from './tasks/types.js';
export {
  evaluateItems,
  evaluateTasks,
  isTaskName,
  primaryMetric,
  type SampleLog,
  type TaskOptions,
  type TaskResult,
  type TasksResult,
} from './zero-shot.js';
export { benchmarkSpeed, type PrefillPoint, type SpeedOptions, type SpeedResult } from './speed.js';
export { buildReport, formatReport, type EvalReport, type ReportInput } from './results.js';
export type { ProgressCallback, ProgressEvent } from './progress.js';
