/** Base class for evaluation errors. */
export class EvalError extends Error {
  override name = 'EvalError';
  /** what kind of failure this is; the CLI maps it to an exit code */
  readonly category: 'input' | 'usage' | 'output' | 'runtime' = 'input';
}

/** A dataset or task file is missing or malformed. */
export class DatasetError extends EvalError {
  override name = 'DatasetError';
}

/** tokenizer.json / tokenizer_config.json could not be used. */
export class TokenizerError extends EvalError {
  override name = 'TokenizerError';
}
