export { SYNTHETIC_SHAPES, SYNTHETIC_SHAPE_NAMES, type SyntheticShapeName } from './shapes.js';
export { writeSyntheticCheckpoint, syntheticConfigJson, normalQuantile, DEFAULT_STD, DEFAULT_MAX_SHARD_BYTES, type SyntheticCheckpointRequest, type SyntheticCheckpoint } from './synthetic-checkpoint.js';
