export { createSession, validateFeeds } from './session.js';
export { deviceMemory, deviceMemoryUsed, hostAvailable, resolveEp, type DeviceMemory } from './device-memory.js';
export type { EpChoice, ExecutionProvider, Feeds, GraphOptimization, Session, SessionOptions } from './session.js';
export { EpUnavailableError, FeedValidationError, RuntimeError, SessionInterruptedError, SessionLoadError, SessionRunError } from './errors.js';
export { interruptSessionsOn, sessionWorkInFlight } from './session-host.js';
export { ortBinaryDir, sharedLibraryFindable, webgpuMissingReason } from './ep-probe.js';
export {
  CUDA_DRIVER_LIBRARY,
  CUDA_LIBRARIES,
  CUDA_PROVIDER,
  CUDA_RECORD_FILE,
  cudaDeviceId,
  cudaLibraryCandidates,
  cudaMissingReason,
  cudaUnavailableReason,
  locateCudaLibraries,
  ortCoreVersion,
  prepareCudaLibraries,
  readCudaRecord,
  type CudaLibrary,
  type CudaLibraryReport,
  type CudaRecord,
  type LibraryDir,
  type LocatedLibrary,
} from './cuda.js';
export {
  fetchCudaProviderPackage,
  installCudaProvider,
  providerTarballName,
  pythonSitePackages,
  setupCuda,
  sha256File,
  writeCudaRecord,
  type CudaSetupOptions,
  type CudaSetupReport,
  type ProviderFileStatus,
} from './cuda-setup.js';
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
export { createMatMul, type MatMulBackend, type MatMulOptions } from './matmul.js';
export { ort, type OrtTensor, type OrtValueMetadata } from './ort.js';
