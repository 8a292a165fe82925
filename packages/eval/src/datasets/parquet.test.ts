import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '@llm-bip/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { loadTextDataset } from './perplexity-sets.js';
import { parquetFile } from './parquet.testutil.js';
import { readParquetRows, readWikitextRows } from './readers.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

describe('parquet datasets (HF layout)', () => {
  it('reads rows of a parquet file', async () => {
    const p = join(tmp.dir, 'rows.parquet');
    writeFileSync(p, parquetFile({ text: ['', ' = Title = \n', 'naïve 日本 \n'] }));
    expect(await readParquetRows(p)).toEqual([{ text: '' }, { text: ' = Title = \n' }, { text: 'naïve 日本 \n' }]);
  });

  it('a WikiText parquet split gives the same evaluation string as the raw file', async () => {
    const raw = join(tmp.dir, 'wiki.raw');
    writeFileSync(raw, ' \n = Title = \n \n Text @-@ here . \n');
    const rows = readWikitextRows(raw);
    const pq = join(tmp.dir, 'wiki.parquet');
    writeFileSync(pq, parquetFile({ text: rows }));
    expect((await loadTextDataset('wikitext2', pq)).text).toBe((await loadTextDataset('wikitext2', raw)).text);
  });

  it('PTB parquet uses the sentence column, stripped', async () => {
    const pq = join(tmp.dir, 'ptb.parquet');
    writeFileSync(pq, parquetFile({ sentence: [' a b ', 'c N '] }));
    expect((await loadTextDataset('ptb', pq)).text).toBe('a b\n\nc N');
    const wrong = join(tmp.dir, 'ptb-wrong.parquet');
    writeFileSync(wrong, parquetFile({ text: ['x'] }));
    await expect(loadTextDataset('ptb', wrong)).rejects.toThrow(/ptb-wrong\.parquet: column "sentence" is missing \(columns: text\)/);
    writeFileSync(wrong, 'not parquet at all');
    await expect(readParquetRows(wrong)).rejects.toThrow(/not a readable parquet file/);
  });
});
