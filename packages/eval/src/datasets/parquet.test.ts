import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '@llm-bip/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { loadTextDataset } from './perplexity-sets.js';
import { readParquetRows, readWikitextRows } from './readers.js';

// A minimal parquet writer (one row group, one required UTF-8 column, PLAIN, uncompressed, data page v1),
// written from the format spec so the reader is tested on bytes hyparquet did not produce.
class Compact {
  bytes: number[] = [];
  private last: number[] = [0];
  varint(n: bigint): void {
    let v = n;
    do {
      let b = Number(v & 0x7fn);
      v >>= 7n;
      if (v) b |= 0x80;
      this.bytes.push(b);
    } while (v);
  }
  zigzag(n: number): void {
    const v = BigInt(n);
    this.varint(v >= 0n ? v << 1n : (-v << 1n) - 1n);
  }
  field(id: number, type: number): void {
    const delta = id - this.last[this.last.length - 1]!;
    if (delta > 0 && delta < 16) this.bytes.push((delta << 4) | type);
    else {
      this.bytes.push(type);
      this.zigzag(id);
    }
    this.last[this.last.length - 1] = id;
  }
  i32(id: number, v: number): void {
    this.field(id, 5);
    this.zigzag(v);
  }
  i64(id: number, v: number): void {
    this.field(id, 6);
    this.zigzag(v);
  }
  str(id: number, s: string): void {
    this.field(id, 8);
    const b = Buffer.from(s, 'utf8');
    this.varint(BigInt(b.length));
    this.bytes.push(...b);
  }
  begin(id?: number): void {
    if (id !== undefined) this.field(id, 12);
    this.last.push(0);
  }
  end(): void {
    this.bytes.push(0);
    this.last.pop();
  }
  list(id: number, elemType: number, n: number): void {
    this.field(id, 9);
    this.bytes.push((n << 4) | elemType);
  }
}

function parquetFile(column: string, values: string[]): Buffer {
  const data: number[] = [];
  for (const v of values) {
    const b = Buffer.from(v, 'utf8');
    const len = Buffer.alloc(4);
    len.writeUInt32LE(b.length);
    data.push(...len, ...b);
  }
  const page = new Compact();
  page.begin();
  page.i32(1, 0); // DATA_PAGE
  page.i32(2, data.length);
  page.i32(3, data.length);
  page.begin(5);
  page.i32(1, values.length);
  page.i32(2, 0); // PLAIN
  page.i32(3, 3); // RLE
  page.i32(4, 3);
  page.end();
  page.end();
  const chunk = [...page.bytes, ...data];
  const meta = new Compact();
  meta.begin();
  meta.i32(1, 1);
  meta.list(2, 12, 2);
  meta.begin();
  meta.str(4, 'schema');
  meta.i32(5, 1);
  meta.end();
  meta.begin();
  meta.i32(1, 6); // BYTE_ARRAY
  meta.i32(3, 0); // REQUIRED
  meta.str(4, column);
  meta.i32(6, 0); // UTF8
  meta.end();
  meta.i64(3, values.length);
  meta.list(4, 12, 1);
  meta.begin();
  meta.list(1, 12, 1);
  meta.begin();
  meta.i64(2, 4);
  meta.begin(3);
  meta.i32(1, 6);
  meta.list(2, 5, 1);
  meta.zigzag(0);
  meta.list(3, 8, 1);
  meta.varint(BigInt(column.length));
  meta.bytes.push(...Buffer.from(column));
  meta.i32(4, 0); // UNCOMPRESSED
  meta.i64(5, values.length);
  meta.i64(6, chunk.length);
  meta.i64(7, chunk.length);
  meta.i64(9, 4);
  meta.end();
  meta.end();
  meta.i64(2, chunk.length);
  meta.i64(3, values.length);
  meta.end();
  meta.end();
  const footerLen = Buffer.alloc(4);
  footerLen.writeUInt32LE(meta.bytes.length);
  return Buffer.concat([Buffer.from('PAR1'), Buffer.from(chunk), Buffer.from(meta.bytes), footerLen, Buffer.from('PAR1')]);
}

const tmp = tempDir();
afterAll(() => tmp.cleanup());

describe('parquet datasets (HF layout)', () => {
  it('reads rows of a parquet file', async () => {
    const p = join(tmp.dir, 'rows.parquet');
    writeFileSync(p, parquetFile('text', ['', ' = Title = \n', 'naïve 日本 \n']));
    expect(await readParquetRows(p)).toEqual([{ text: '' }, { text: ' = Title = \n' }, { text: 'naïve 日本 \n' }]);
  });

  it('a WikiText parquet split gives the same evaluation string as the raw file', async () => {
    const raw = join(tmp.dir, 'wiki.raw');
    writeFileSync(raw, ' \n = Title = \n \n Text @-@ here . \n');
    const rows = readWikitextRows(raw);
    const pq = join(tmp.dir, 'wiki.parquet');
    writeFileSync(pq, parquetFile('text', rows));
    expect((await loadTextDataset('wikitext2', pq)).text).toBe((await loadTextDataset('wikitext2', raw)).text);
  });

  it('PTB parquet uses the sentence column, stripped', async () => {
    const pq = join(tmp.dir, 'ptb.parquet');
    writeFileSync(pq, parquetFile('sentence', [' a b ', 'c N ']));
    expect((await loadTextDataset('ptb', pq)).text).toBe('a b\n\nc N');
    const wrong = join(tmp.dir, 'ptb-wrong.parquet');
    writeFileSync(wrong, parquetFile('text', ['x']));
    await expect(loadTextDataset('ptb', wrong)).rejects.toThrow(/ptb-wrong\.parquet: column "sentence" is missing \(columns: text\)/);
    writeFileSync(wrong, 'not parquet at all');
    await expect(readParquetRows(wrong)).rejects.toThrow(/not a readable parquet file/);
  });
});
