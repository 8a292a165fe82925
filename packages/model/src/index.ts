export * from './spec.js';
export * from './plan.js';
export * from './groups.js';
export * from './hf/index.js';
export * from './export/index.js';
export * from './recognise/index.js';
export { modelFingerprint } from './fingerprint.js';
export { modelWeights, canonicalLinear, WeightReadError, type LinearWeight, type WeightSource } from './weights.js';
export * from './gguf/index.js';
