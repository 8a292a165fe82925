export { exportGguf, planGgufExport, type ExportGgufOptions, type ExportGgufResult, type GgufExportPlan } from './export-gguf.js';
export { architectureFor, hyperparameters, llama3RopeFactors, isUniform, LLAMA_CPP_MAX_LAYERS, type GgufArchitecture, type RopeAndContext } from './architecture.js';
export { ggufTensors, matrixType, sourceRow, GGUF_DTYPES, type GgufDtype } from './tensors.js';
export { ggufVocab, vocabFromTokenizerJson, TokenType, type GgufVocab } from './tokenizer.js';
export { GgufExportError } from './errors.js';
