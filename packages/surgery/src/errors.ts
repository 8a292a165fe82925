/** A model, spec or plan that surgery cannot apply; the message names the problem and the fix. */
export class SurgeryError extends Error {
  override name = 'SurgeryError';
}
