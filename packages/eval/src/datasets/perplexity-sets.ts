import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DatasetError } from '../errors.js';
import { joinRows, readParquetRows, readPtbLines, readWikitextRows } from './readers.js';

/** A perplexity corpus: its name and the single evaluation string. */
export interface TextDataset {
  name: string;
  path: string;
  text: string;
}

export type PerplexitySetName = 'wikitext2' | 'ptb' | 'ptb-test';

/** Where each perplexity set lives under the shared data folder (../shared/data). */
export const perplexitySetFiles: Record<PerplexitySetName, string> = {
  wikitext2: 'wikitext-2-raw-v1/wiki.test.raw',
  ptb: 'ptb/ptb.valid.txt',
  'ptb-test': 'ptb/ptb.test.txt',
};

export function isPerplexitySetName(name: string): name is PerplexitySetName {
  return name in perplexitySetFiles;
}

/** Path of a named perplexity set under `dataDir`; throws a DatasetError naming the expected file. */
export function locatePerplexitySet(name: string, dataDir: string): string {
  if (!isPerplexitySetName(name)) {
    throw new DatasetError(`unknown perplexity set "${name}" (known: ${Object.keys(perplexitySetFiles).join(', ')}; or pass a file path)`);
  }
  const path = join(dataDir, perplexitySetFiles[name]);
  if (!existsSync(path)) throw new DatasetError(`${name}: expected ${path} (see shared/data/README.md)`);
  return path;
}

/**
 * Build the evaluation string of a perplexity set from a file. `kind` picks the row rule:
 * wikitext (raw file, or HF parquet with a `text` column) or ptb (stripped lines, or parquet `sentence`).
 */
export async function loadTextDataset(name: string, path: string, kind?: 'wikitext' | 'ptb'): Promise<TextDataset> {
  const k = kind ?? (name.startsWith('ptb') || /ptb/i.test(path) ? 'ptb' : 'wikitext');
  let rows: string[];
  if (path.endsWith('.parquet')) {
    const column = k === 'ptb' ? 'sentence' : 'text';
    const records = await readParquetRows(path, [column]);
    if (records.length && typeof records[0]![column] !== 'string') {
      throw new DatasetError(`${path}: column "${column}" is not text`);
    }
    // HF rows are already in final form (wikitext rows keep "\n"; ptb sentences are stripped)
    rows = records.map((r) => (k === 'ptb' ? String(r[column]).trim() : String(r[column])));
  } else {
    rows = k === 'ptb' ? readPtbLines(path) : readWikitextRows(path);
  }
  return { name, path, text: joinRows(rows) };
}
