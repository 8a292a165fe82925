/** A graph lookup or rewrite that cannot be done as asked; the message names the node/tensor and the fix. */
export class GraphError extends Error {
  override name = 'GraphError';
}
