export { readHfConfig, normaliseHfConfig, toHfConfigJson, contextLengthOf, checkWithinContext, ContextLengthError, HfCheckpointError, type ContextLength, type LlamaConfig, type RopeScaling } from './config.js';
export { FAMILIES, REFUSED_MODEL_TYPES, familyOf, type Family, type FamilyTraits, type MlpActivation } from './families.js';
export {
  SafetensorsCheckpoint,
  readSafetensorsHeader,
  SafetensorsError,
  SAFETENSORS_DTYPE_BYTES,
  type SafetensorsDtype,
  type SafetensorsEntry,
} from './safetensors.js';
export { writeSafetensors, encodeSafetensors, type SafetensorsTensorInput } from './safetensors-write.js';
export { hfNames, llamaWeightShapes, checkCheckpointMatchesConfig, loadHfWeightsFloat64, type HfWeightShape } from './weights.js';
