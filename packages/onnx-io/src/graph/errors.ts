/** A graph lookup or rewrite that cannot be done as asked; the message names the node/tensor and the fix. */
export class GraphError extends Error {
  override name = 'GraphError';
  /** what kind of failure this is; the CLI maps it to an exit code */
  readonly category: 'input' | 'usage' | 'output' | 'runtime' = 'input';
}
