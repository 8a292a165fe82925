export * from './spec.js';
export * from './plan.js';
export * from './groups.js';
export * from './hf/index.js';
export * from './export/index.js';
export * from './recognise/index.js';
export { modelFingerprint } from './fingerprint.js';
export { batchForFixedDims, declaredInputs, fixedDimsOf, FixedDimensionError, type DeclaredInput, type FixedDims, type InputDemand } from './fixed-dims.js';
