import { categorisedError } from '@llm-bip/onnx-io';

/** A GGUF file that cannot be read, or a tensor / value that cannot be written as asked. */
export class GgufError extends categorisedError('GgufError', 'input') {}
