export { DataFetchError, DatasetError, EvalError, TokenizerError } from './errors.js';
export { DATA_SETS, dataSet, dataSetNames, hubUrl, isDataSetName, type DataSetName, type DataSetSpec, type HubFile } from './data/catalogue.js';
export { dataCacheDir, userCacheDir } from './data/user-cache.js';
export {
  dataRoots,
  describeResolved,
  findDataSetIn,
  missingDataMessage,
  requireDataSets,
  resolveDataSet,
  rootsOf,
  type DataLocation,
  type DataRoot,
  type DataRootKind,
  type ResolvedDataSet,
} from './data/resolve.js';
export { DEFAULT_HUB_ENDPOINT, downloadHubFile, hubConnection, sha256File, type DownloadOptions, type DownloadProgress, type Downloaded, type HubConnection } from './data/hub-download.js';
export {
  fetchDataSets,
  listDataSets,
  verifyDataSets,
  type DataCacheOptions,
  type FetchEvent,
  type FetchOptions,
  type FetchResult,
  type FetchedRecord,
  type FileState,
  type FileStatus,
  type SetStatus,
} from './data/data-cache.js';
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
export { evaluatePerplexity, splitWindows, targetBatches, windowNlls, type PerplexityOptions, type PerplexityResult } from './perplexity.js';
export { headBytesPerWindow, MAX_WINDOW_BATCH, windowBatchFor, windowBytes, type ActivationWidths } from './window-batch.js';
export { createScoringSession, forwardTokenScores, hasScoringHead, scoreBatches, type BatchScorer, type BatchScoring, type ScoringSession, type TargetBatch, type TokenScores } from './token-scores.js';
export { addTokenScoringHead, findLogitsOutput, ARGMAX_OUTPUT, TARGETS_INPUT, TOKEN_LOGPROB_OUTPUT } from './scoring-head.js';
export { encodePair, scoreRequests, type EncodedRequest, type LoglikelihoodResult, type ScoreOptions } from './loglikelihood.js';
export { argmax, charLength, meanStderr, scoreItem, utf8Length, type ItemScore } from './metrics.js';
export * from './tasks/templates.js';
export { hellaswagJsonl, loadTaskItems, missingTaskFiles, readHellaswagText, taskFiles } from './tasks/loaders.js';
export { findHfParquet, taskItemsFromHfRows, taskSplit } from './tasks/hf-rows.js';
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
