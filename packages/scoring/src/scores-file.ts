/**
 * scores.json: what `llm-bip score` writes and `llm-bip plan` reads. It carries the statistics
 * (so another criterion option or ratio needs no recalibration when the criterion is unchanged),
 * the scores, the model's plan shape and fingerprint, and the calibration record.
 */
import { readFile } from 'node:fs/promises';
import { planModelShapeProblem, type PruningPlan } from '@llm-bip/model';
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
  let s: unknown;
  try {
    s = JSON.parse(await readFile(path, 'utf8'));
  } catch (e) {
    throw new StatisticsMismatchError(`cannot read scores file ${path}: ${(e as Error).message}`);
  }
  return parseScores(s, path);
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Check a parsed scores file: the model shape, and per layer a list of finite numbers (or null:
 * not scored) of the layer's size. null or string scores would otherwise still make a plan.
 */
export function parseScores(s: unknown, path = 'scores file'): ScoresFile {
  const fail = (msg: string): never => {
    throw new StatisticsMismatchError(`${path}: ${msg}. The scores file is damaged: make it again with \`llm-bip score\`.`);
  };
  if (!isObj(s) || s.format !== SCORES_FORMAT) {
    const format = isObj(s) ? String(s.format) : typeof s;
    throw new StatisticsMismatchError(`${path} is not a scores file (format "${format}", expected "${SCORES_FORMAT}"): make one with \`llm-bip score\``);
  }
  const bad = planModelShapeProblem(s.model);
  if (bad) fail(bad);
  const model = s.model as PlanModelShape;
  if (!isObj(s.statistics)) fail('has no "statistics" object');
  const scores = s.scores;
  if (!isObj(scores)) return fail('has no "scores" object');
  if (typeof scores.criterion !== 'string') fail('"scores.criterion" is not a string');
  if (scores.headGranularity !== 'head' && scores.headGranularity !== 'kv-group') fail(`"scores.headGranularity" is ${JSON.stringify(scores.headGranularity)}, expected "head" or "kv-group"`);
  if (!Array.isArray(scores.layers) || scores.layers.length !== model.numLayers) fail(`"scores.layers" must list ${model.numLayers} layers`);
  const seen = new Set<number>();
  (scores.layers as unknown[]).forEach((l, i) => {
    if (!isObj(l) || !Number.isSafeInteger(l.layer) || (l.layer as number) < 0 || (l.layer as number) >= model.numLayers) {
      return fail(`"scores.layers[${i}].layer" must be a layer index 0..${model.numLayers - 1}`);
    }
    const layer = l.layer as number;
    if (seen.has(layer)) fail(`"scores.layers[${i}]" repeats layer ${layer}`);
    seen.add(layer);
    const heads = scores.headGranularity === 'kv-group' ? model.numKvHeads[layer]! : model.numHeads[layer]!;
    for (const [key, n] of [['heads', heads], ['channels', model.intermediateSize[layer]!]] as const) {
      const v = l[key];
      if (v === null) continue;
      if (!Array.isArray(v) || v.length !== n) fail(`"scores.layers[${i}].${key}" must be null or a list of ${n} numbers`);
      const j = (v as unknown[]).findIndex((x) => typeof x !== 'number' || !Number.isFinite(x));
      if (j >= 0) fail(`"scores.layers[${i}].${key}[${j}]" is ${JSON.stringify((v as unknown[])[j])}, not a finite number`);
    }
    if (l.blockOutputNorm !== undefined && (typeof l.blockOutputNorm !== 'number' || !(l.blockOutputNorm > 0))) {
      fail(`"scores.layers[${i}].blockOutputNorm" is ${JSON.stringify(l.blockOutputNorm)}, not a positive number`);
    }
    return undefined;
  });
  return s as unknown as ScoresFile;
}
