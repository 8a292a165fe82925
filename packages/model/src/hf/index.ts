export { readHfConfig, normaliseHfConfig, toHfConfigJson, contextLengthOf, modelWidthsOf, checkWithinContext, ContextLengthError, HfCheckpointError, type ContextLength, type ModelWidths, type LlamaConfig, type RopeScaling } from './config.js';
export { FAMILIES, REFUSED_MODEL_TYPES, familyOf, type Family, type FamilyTraits, type MlpActivation } from './families.js';
export {
  SafetensorsCheckpoint,
  readSafetensorsHeader,
  SafetensorsError,
  SAFETENSORS_DTYPE_BYTES,
  type SafetensorsDtype,
  type SafetensorsEntry,
} from './safetensors.js';
export { writeSafetensors, writeSafetensorsStreamed, encodeSafetensors, encodeSafetensorsHeader, type SafetensorsTensorInput, type SafetensorsTensorHeader } from './safetensors-write.js';
export { hfNames, llamaWeightShapes, checkCheckpointMatchesConfig, loadHfWeightsFloat64, type HfWeightShape } from './weights.js';
