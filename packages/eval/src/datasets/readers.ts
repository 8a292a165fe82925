import { existsSync, readFileSync } from 'node:fs';
import { DatasetError } from '../errors.js';

function readUtf8(path: string, what: string): string {
  if (!existsSync(path)) throw new DatasetError(`${what} not found: ${path}`);
  return readFileSync(path, 'utf8');
}

/** Lines of a text file; a final newline does not make an extra empty line. */
export function splitLines(text: string): string[] {
  const body = text.endsWith('\n') ? text.slice(0, -1) : text;
  return body === '' ? [] : body.split('\n');
}

/**
 * WikiText raw file -> HF dataset rows: a blank line (WikiText's " ") becomes "", every other line keeps
 * its trailing "\n" (rows = [l + "\n" if l.strip() else "" for l in lines]).
 */
export function readWikitextRows(path: string): string[] {
  return splitLines(readUtf8(path, 'WikiText file').replace(/\r\n/g, '\n')).map((l) => (l.trim() ? `${l}\n` : ''));
}

/** One-sentence-per-line PTB (ptb_text_only): every line stripped. */
export function readPtbLines(path: string): string[] {
  return splitLines(readUtf8(path, 'PTB file')).map((l) => l.trim());
}

/** The peers' evaluation string: rows joined by a blank line. */
export function joinRows(rows: readonly string[]): string {
  return rows.join('\n\n');
}

/** One JSON value per non-empty line. */
export function readJsonl<T = Record<string, unknown>>(path: string): T[] {
  const lines = splitLines(readUtf8(path, 'JSONL file'));
  const out: T[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      out.push(JSON.parse(line) as T);
    } catch (e) {
      throw new DatasetError(`${path}:${i + 1}: not valid JSON (${(e as Error).message})`);
    }
  });
  return out;
}

/** Non-empty trimmed lines (label files such as PIQA's valid-labels.lst). */
export function readLabelLines(path: string): string[] {
  return splitLines(readUtf8(path, 'label file'))
    .map((l) => l.trim())
    .filter((l) => l !== '');
}

/** Rows of a parquet file (HF datasets layout) as plain objects, optionally only some columns. */
export async function readParquetRows(path: string, columns?: string[]): Promise<Record<string, unknown>[]> {
  if (!existsSync(path)) throw new DatasetError(`parquet file not found: ${path}`);
  const { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects, parquetSchema } = await import('hyparquet');
  const file = await asyncBufferFromFile(path);
  let metadata;
  try {
    metadata = await parquetMetadataAsync(file);
  } catch (e) {
    throw new DatasetError(`${path}: not a readable parquet file (${(e as Error).message})`);
  }
  if (columns) {
    const have = parquetSchema(metadata).children.map((c) => c.element.name);
    const absent = columns.filter((c) => !have.includes(c));
    if (absent.length) throw new DatasetError(`${path}: column "${absent.join('", "')}" is missing (columns: ${have.join(', ')})`);
  }
  return (await parquetReadObjects(columns ? { file, metadata, columns } : { file, metadata })) as Record<string, unknown>[];
}
