export { pruneModel, type PruneOptions, type PruneResult, type PruneProgress } from './prune.js';
export { planEdits, type GraphEdit, type WeightSlice, type SurgeryEdits } from './edits.js';
export { compensationBias } from './compensation.js';
export { sliceAxis } from './slice.js';
export { SurgeryError } from './errors.js';
export { RECORD_FORMAT, parameterSummary, type PruningRecord, type LayerChange, type ParameterSummary } from './provenance.js';
