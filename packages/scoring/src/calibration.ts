/**
 * Calibration sets: `samples` windows of `seqLen` token ids, drawn with a seeded RNG.
 *
 * Sampling rule (as LLM-Pruner's and Wanda's C4 loaders): repeat until enough windows: pick a
 * document uniformly at random; encode it; if it has more than `seqLen` tokens, take the window
 * starting at a uniform random offset in [0, length - seqLen]; otherwise draw again. A single long
 * document (a WikiText-2 train file) therefore gives random windows of itself. Documents are
 * encoded once (cached), and only the ones drawn are encoded at all.
 */
import { readFile } from 'node:fs/promises';
import { CalibrationError } from './errors.js';
import { seededRng } from './rng.js';

export interface CalibrationOptions {
  /** the documents; or give `jsonlPath` / `textPath` */
  texts?: string[];
  /** JSON lines with a string field (default "text"), one document per line (the C4 sample) */
  jsonlPath?: string;
  jsonlField?: string;
  /** a plain text file, taken as one document */
  textPath?: string;
  /** text -> token ids (the model's tokenizer; prepend BOS here if the model expects it) */
  encode: (text: string) => number[];
  samples?: number;
  seqLen?: number;
  seed?: number;
  /** give up after this many draws of documents that are too short (default 100 x samples) */
  maxDraws?: number;
}

export interface CalibrationSet {
  /** samples x seqLen ids */
  rows: number[][];
  samples: number;
  seqLen: number;
  seed: number;
  /** where the text came from, for the plan's record */
  source: string;
}

export async function sampleCalibration(opts: CalibrationOptions): Promise<CalibrationSet> {
  const samples = opts.samples ?? 128;
  const seqLen = opts.seqLen ?? 128;
  const seed = opts.seed ?? 0;
  if (!Number.isInteger(samples) || samples < 1) throw new CalibrationError(`samples must be a positive integer, got ${samples}`);
  if (!Number.isInteger(seqLen) || seqLen < 1) throw new CalibrationError(`seqLen must be a positive integer, got ${seqLen}`);
  const { docs, source } = await loadDocuments(opts);
  if (docs.length === 0) throw new CalibrationError(`no documents in ${source}: give a non-empty text source`);

  const rng = seededRng(seed);
  const cache = new Map<number, number[]>();
  const rows: number[][] = [];
  const maxDraws = opts.maxDraws ?? 100 * samples;
  let draws = 0;
  while (rows.length < samples) {
    if (draws++ >= maxDraws) {
      throw new CalibrationError(
        `only ${rows.length} of ${samples} calibration windows after ${maxDraws} draws: too few documents in ${source} are longer than ${seqLen} tokens. Use a shorter --seqlen or longer documents.`,
      );
    }
    const d = rng.int(docs.length);
    let ids = cache.get(d);
    if (!ids) {
      ids = opts.encode(docs[d]!);
      cache.set(d, ids);
    }
    if (ids.length <= seqLen) continue;
    const start = rng.int(ids.length - seqLen + 1);
    rows.push(ids.slice(start, start + seqLen));
  }
  return { rows, samples, seqLen, seed, source };
}

async function loadDocuments(opts: CalibrationOptions): Promise<{ docs: string[]; source: string }> {
  const given = [opts.texts, opts.jsonlPath, opts.textPath].filter((x) => x !== undefined).length;
  if (given !== 1) throw new CalibrationError('give exactly one of texts, jsonlPath or textPath');
  if (opts.texts) return { docs: opts.texts, source: `${opts.texts.length} texts` };
  if (opts.textPath) return { docs: [await readText(opts.textPath)], source: opts.textPath };
  const path = opts.jsonlPath!;
  const field = opts.jsonlField ?? 'text';
  const docs: string[] = [];
  const lines = (await readText(path)).split('\n');
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    let rec: unknown;
    try {
      rec = JSON.parse(line);
    } catch {
      throw new CalibrationError(`${path}:${i + 1} is not valid JSON: the file must hold one JSON object per line`);
    }
    const v = (rec as Record<string, unknown>)[field];
    if (typeof v !== 'string') throw new CalibrationError(`${path}:${i + 1} has no string field "${field}": pass jsonlField to name the text field`);
    docs.push(v);
  });
  return { docs, source: path };
}

async function readText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    throw new CalibrationError(`cannot read calibration file ${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}
