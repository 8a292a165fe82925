/** Calibration windows drawn with the model's tokenizer (the tokenizer parsed once by the caller). */
import { DatasetError, missingDataMessage, resolveDataSet, type DataLocation, type EvalTokenizer } from '@llm-bip/eval';
import type { PruningPlan } from '@llm-bip/model';
import { sampleCalibration, type CalibrationSet } from '@llm-bip/scoring';
import { DEFAULTS } from './defaults.js';

export interface CalibrationRequest {
  /** calibration text: .jsonl / .json.gz (one document per line, "text" field) or plain text; default: the C4 set found in dataDir */
  calib?: string;
  /** a data folder, or the folders to search in order (eval's dataRoots), holding the default calibration set */
  dataDir?: DataLocation;
  samples?: number;
  seqLen?: number;
  seed?: number;
}

/** The calibration file a request reads. */
export function calibrationFile(req: CalibrationRequest): string {
  if (req.calib) return req.calib;
  if (!req.dataDir) throw new TypeError('calibration: give calib (a file) or dataDir (the folder with the C4 set)');
  const found = resolveDataSet(DEFAULTS.calibration.dataSet, req.dataDir);
  if (!found) throw new DatasetError(missingDataMessage([DEFAULTS.calibration.dataSet], req.dataDir));
  return found.files[0]!;
}

export async function calibrate(tokenizer: Pick<EvalTokenizer, 'encode'>, req: CalibrationRequest): Promise<CalibrationSet> {
  const file = calibrationFile(req);
  const source = /\.jsonl(\.gz)?$|\.json\.gz$/.test(file) ? { jsonlPath: file } : { textPath: file };
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
