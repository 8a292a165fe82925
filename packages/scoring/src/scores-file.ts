/**
 * scores.json: what `llm-bip score` writes and `llm-bip plan` reads. It carries the statistics
 * (so another criterion option or ratio needs no recalibration when the criterion is unchanged),
 * the scores, the model's plan shape and fingerprint, and the calibration record.
 */
import { readFile } from 'node:fs/promises';
import type { PruningPlan } from '@llm-bip/model';
import { StatisticsMismatchError } from './errors.js';
import { writeJsonAtomic } from '@llm-bip/onnx-io';
import type { GroupScores, PlanModelShape, Statistics } from './types.js';

export const SCORES_FORMAT = 'llm-bip.scores/v1';

export interface ScoresFile {
  format: typeof SCORES_FORMAT;
  model: PlanModelShape;
  calibration?: PruningPlan['calibration'];
  statistics: Statistics;
  scores: GroupScores;
}

export async function saveScores(file: Omit<ScoresFile, 'format'>, path: string): Promise<void> {
  await writeJsonAtomic(path, { format: SCORES_FORMAT, ...file }, { mkdir: true });
}

export async function loadScores(path: string): Promise<ScoresFile> {
  let s: ScoresFile;
  try {
    s = JSON.parse(await readFile(path, 'utf8')) as ScoresFile;
  } catch (e) {
    throw new StatisticsMismatchError(`cannot read scores file ${path}: ${(e as Error).message}`);
  }
  if (s.format !== SCORES_FORMAT) throw new StatisticsMismatchError(`${path} is not a scores file (format "${String(s.format)}", expected "${SCORES_FORMAT}"): make one with \`llm-bip score\``);
  return s;
}
