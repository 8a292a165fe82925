/** Calibration windows drawn with the model's tokenizer (the tokenizer parsed once by the caller). */
import type { EvalTokenizer } from '@llm-bip/eval';
import type { PruningPlan } from '@llm-bip/model';
import { sampleCalibration, type CalibrationSet } from '@llm-bip/scoring';
import { DEFAULTS } from './defaults.js';

export interface CalibrationRequest {
  /** calibration text: .jsonl (one document per line, "text" field) or plain text; default DEFAULTS.calibration.file(dataDir) */
  calib?: string;
  /** the data folder holding the default calibration file */
  dataDir?: string;
  samples?: number;
  seqLen?: number;
  seed?: number;
}

/** The calibration file a request reads. */
export function calibrationFile(req: CalibrationRequest): string {
  if (req.calib) return req.calib;
  if (!req.dataDir) throw new TypeError('calibration: give calib (a file) or dataDir (the folder with the C4 sample)');
  return DEFAULTS.calibration.file(req.dataDir);
}

export async function calibrate(tokenizer: Pick<EvalTokenizer, 'encode'>, req: CalibrationRequest): Promise<CalibrationSet> {
  const file = calibrationFile(req);
  const source = file.endsWith('.jsonl') ? { jsonlPath: file } : { textPath: file };
  return sampleCalibration({
    ...source,
    encode: (t) => tokenizer.encode(t),
    samples: req.samples ?? DEFAULTS.calibration.samples,
    seqLen: req.seqLen ?? DEFAULTS.calibration.seqLen,
    seed: req.seed ?? DEFAULTS.calibration.seed,
  });
}

/** What a plan and a scores file record of the calibration. */
export function calibrationRecord(c: Pick<CalibrationSet, 'source' | 'samples' | 'seqLen' | 'seed'>): NonNullable<PruningPlan['calibration']> {
  return { source: c.source, samples: c.samples, seqLen: c.seqLen, seed: c.seed };
}
