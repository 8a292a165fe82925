/** Errors of the scoring package: each names the problem and the fix. */
import { categorisedError } from '@llm-bip/onnx-io';
export class ScoringError extends categorisedError('ScoringError', 'input') {}

/** Statistics that lack a tap a criterion needs, or were made for another model. */
export class StatisticsMismatchError extends ScoringError {
  override name = 'StatisticsMismatchError';
}

export class UnknownCriterionError extends ScoringError {
  override name = 'UnknownCriterionError';
  override readonly category = 'usage';
}

export class CalibrationError extends ScoringError {
  override name = 'CalibrationError';
}

export class AllocationError extends ScoringError {
  override name = 'AllocationError';
}
