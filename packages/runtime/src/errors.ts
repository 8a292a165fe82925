import { categorisedError } from '@llm-bip/onnx-io';

/** Base class for every error the runtime raises, so callers can catch them in one place. */
export class RuntimeError extends categorisedError('RuntimeError', 'runtime') {}

/** An execution provider that was asked for explicitly could not be initialised. */
export class EpUnavailableError extends RuntimeError {
  override name = 'EpUnavailableError';
  override readonly category = 'input';
  constructor(
    readonly ep: string,
    readonly reason: string,
  ) {
    super(`${ep} execution provider unavailable: ${reason}`);
  }
}

/** The model file could not be loaded into a session. */
export class SessionLoadError extends RuntimeError {
  override name = 'SessionLoadError';
  override readonly category = 'input';
}

/** Feeds do not match the session's inputs (missing, unknown, or wrong dtype). */
export class FeedValidationError extends RuntimeError {
  override name = 'FeedValidationError';
}

/** ORT failed inside run(); the message lists every feed's dtype and dims. */
export class SessionRunError extends RuntimeError {
  override name = 'SessionRunError';
}

/** A load or run was interrupted (Ctrl-C): see interruptSessionsOn. */
export class SessionInterruptedError extends RuntimeError {
  override name = 'SessionInterruptedError';
  constructor() {
    super('ONNX Runtime work interrupted');
  }
}
