export { referenceForward, type LayerActivations, type ReferenceOptions } from './forward.js';
