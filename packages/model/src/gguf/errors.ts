import { categorisedError } from '@llm-bip/onnx-io';

/** A model, config or tokenizer the GGUF export cannot map to llama.cpp (found before anything is written). */
export class GgufExportError extends categorisedError('GgufExportError', 'input') {}
