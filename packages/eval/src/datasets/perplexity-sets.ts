import { DatasetError } from '../errors.js';
import { missingDataMessage, resolveDataSet, type DataLocation } from '../data/resolve.js';
import { perplexitySetFiles, type PerplexitySetName } from './perplexity-files.js';
import { joinRows, readParquetRows, readPtbLines, readWikitextRows } from './readers.js';

export { perplexitySetFiles, type PerplexitySetName };

/** A perplexity corpus: its name and the single evaluation string. */
export interface TextDataset {
  name: string;
  path: string;
  text: string;
}

export function isPerplexitySetName(name: string): name is PerplexitySetName {
  return name in perplexitySetFiles;
}

/**
 * The file of a named perplexity set: the first folder of `data` (one folder, or the search order of
 * dataRoots) that holds it, in the Hub's layout or the development copy's. Throws a DatasetError naming
 * where it looked and the `llm-bip data fetch` command.
 */
export function locatePerplexitySet(name: string, data: DataLocation): string {
  if (!isPerplexitySetName(name)) {
    throw new DatasetError(`unknown perplexity set "${name}" (known: ${Object.keys(perplexitySetFiles).join(', ')}; or pass a file path)`);
  }
  const found = resolveDataSet(name, data);
  if (!found) throw new DatasetError(missingDataMessage([name], data));
  return found.files[0]!;
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
