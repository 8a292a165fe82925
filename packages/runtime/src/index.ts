export { createSession, validateFeeds } from './session.js';
export type { EpChoice, ExecutionProvider, Feeds, GraphOptimization, Session, SessionOptions } from './session.js';
export { EpUnavailableError, FeedValidationError, RuntimeError, SessionLoadError, SessionRunError } from './errors.js';
export { cudaMissingReason, ortBinaryDir, webgpuMissingReason } from './ep-probe.js';
export { chunk, int64Tensor, makeTokenBatch, toFloat32, type TokenBatch } from './tensors.js';
export { decodeHalf, encodeHalf, float16ToFloat32, float32ToFloat16 } from './float16.js';
export {
  emptyPast,
  forwardFeeds,
  forwardLogits,
  kvLayoutBesideModel,
  kvSlots,
  logitsOutputName,
  logitsView,
  positionTensor,
  type KvLayout,
  type KvSlot,
  type LogitsView,
} from './causal-lm.js';
export { greedyDecode, type GreedyOptions, type GreedyResult } from './decode.js';
export { ort, type OrtTensor, type OrtValueMetadata } from './ort.js';
