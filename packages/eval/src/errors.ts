import { categorisedError } from '@llm-bip/onnx-io';

/** Base class for evaluation errors. */
export class EvalError extends categorisedError('EvalError', 'input') {}

/** A dataset or task file is missing or malformed. */
export class DatasetError extends EvalError {
  override name = 'DatasetError';
}

/** tokenizer.json / tokenizer_config.json could not be used. */
export class TokenizerError extends EvalError {
  override name = 'TokenizerError';
}

/** A dataset could not be fetched: the Hub unreachable, refused, or the bytes not the pinned ones. */
export class DataFetchError extends EvalError {
  override name = 'DataFetchError';
}
