import { categorisedError } from '../errors.js';

/** A graph lookup or rewrite that cannot be done as asked; the message names the node/tensor and the fix. */
export class GraphError extends categorisedError('GraphError', 'input') {}
