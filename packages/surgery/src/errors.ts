import { categorisedError } from '@llm-bip/onnx-io';

/** A model, spec or plan that surgery cannot apply; the message names the problem and the fix. */
export class SurgeryError extends categorisedError('SurgeryError', 'input') {}
