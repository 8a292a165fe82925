import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { shared, tempDir } from '@llm-bip/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { DatasetError } from '../errors.js';
import { loadTextDataset, locatePerplexitySet } from './perplexity-sets.js';
import { joinRows, readJsonl, readPtbLines, readWikitextRows, splitLines } from './readers.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());
const file = (name: string, text: string): string => {
  const p = join(tmp.dir, name);
  writeFileSync(p, text);
  return p;
};

describe('text readers', () => {
  it('splitLines ignores one final newline only', () => {
    expect(splitLines('a\nb\n')).toEqual(['a', 'b']);
    expect(splitLines('a\nb')).toEqual(['a', 'b']);
    expect(splitLines('a\n\n')).toEqual(['a', '']);
    expect(splitLines('')).toEqual([]);
  });

  it('wikitext rows: blank rows become "", text rows keep their newline', () => {
    const p = file('wiki.raw', ' \n = Title = \n \n Some text @-@ here . \n \n');
    const rows = readWikitextRows(p);
    expect(rows).toEqual(['', ' = Title = \n', '', ' Some text @-@ here . \n', '']);
    expect(joinRows(rows)).toBe('\n\n = Title = \n\n\n\n\n Some text @-@ here . \n\n\n');
  });

  it('PTB lines are stripped, with or without a final newline', () => {
    expect(readPtbLines(file('ptb1.txt', ' a b <unk> \n c N d '))).toEqual(['a b <unk>', 'c N d']);
    expect(readPtbLines(file('ptb2.txt', ' a b \n c \n'))).toEqual(['a b', 'c']);
  });

  it('jsonl: one object per line; a bad line names file and line', () => {
    expect(readJsonl(file('ok.jsonl', '{"a":1}\n\n{"a":2}\n'))).toEqual([{ a: 1 }, { a: 2 }]);
    expect(() => readJsonl(file('bad.jsonl', '{"a":1}\n{oops\n'))).toThrow(/bad\.jsonl:2: not valid JSON/);
  });

  it('missing files are DatasetErrors', () => {
    expect(() => readPtbLines(join(tmp.dir, 'none.txt'))).toThrow(DatasetError);
    expect(() => locatePerplexitySet('wikitext2', tmp.dir)).toThrow(/dataset not found: wikitext2 \(looked in .* \(the data folder\)\)\. Fetch it with `llm-bip data fetch wikitext2`/);
    expect(() => locatePerplexitySet('c4', tmp.dir)).toThrow(/unknown perplexity set "c4"/);
  });

  it('the shared WikiText-2 and PTB files follow the documented layout', async () => {
    const data = shared('data');
    const wiki = readWikitextRows(locatePerplexitySet('wikitext2', data));
    expect(wiki).toHaveLength(4358);
    expect(wiki.filter((r) => r !== '')).toHaveLength(2891);
    const ptb = readPtbLines(locatePerplexitySet('ptb', data));
    expect(ptb).toHaveLength(3370);
    expect(ptb.every((l) => l === l.trim() && l.length > 0)).toBe(true);
    const ds = await loadTextDataset('ptb', locatePerplexitySet('ptb', data));
    expect(ds.text.startsWith(`${ptb[0]}\n\n${ptb[1]}`)).toBe(true);
  });
});
