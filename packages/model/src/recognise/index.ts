export { recogniseModel, RECOGNISERS, type RecogniseOptions } from './recognise.js';
export { UnsupportedGraphError, type RecogniserAttempt } from './errors.js';
export { describeSpec, formatSpecSummary, type SpecSummary } from './describe.js';
