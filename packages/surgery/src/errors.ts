/** A model, spec or plan that surgery cannot apply; the message names the problem and the fix. */
export class SurgeryError extends Error {
  override name = 'SurgeryError';
  /** what kind of failure this is; the CLI maps it to an exit code */
  readonly category: 'input' | 'usage' | 'output' | 'runtime' = 'input';
}
