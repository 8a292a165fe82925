import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '@llm-bip/testing';
import { sampleCalibration } from './calibration.js';
import { CalibrationError } from './errors.js';

// a toy "tokenizer": one id per character
const encode = (t: string) => Array.from(t, (c) => c.charCodeAt(0));

describe('sampleCalibration', () => {
  const tmp = tempDir();
  afterAll(tmp.cleanup);
  const docs = ['short', 'a'.repeat(40), 'abcdefghijklmnopqrstuvwxyz0123456789', 'x'.repeat(3)];

  it('draws seeded windows of seqLen tokens from documents longer than seqLen', async () => {
    const a = await sampleCalibration({ texts: docs, encode, samples: 20, seqLen: 10, seed: 7 });
    const b = await sampleCalibration({ texts: docs, encode, samples: 20, seqLen: 10, seed: 7 });
    const c = await sampleCalibration({ texts: docs, encode, samples: 20, seqLen: 10, seed: 8 });
    expect(a.rows).toEqual(b.rows);
    expect(a.rows).not.toEqual(c.rows);
    expect(a.rows).toHaveLength(20);
    for (const row of a.rows) {
      expect(row).toHaveLength(10);
      const text = String.fromCharCode(...row);
      expect(docs.filter((d) => d.length > 10).some((d) => d.includes(text))).toBe(true);
    }
  });

  it('reads jsonl records and plain text files', async () => {
    const jsonl = join(tmp.dir, 'c4.jsonl');
    writeFileSync(jsonl, docs.map((text) => JSON.stringify({ text, url: 'u' })).join('\n') + '\n');
    const fromJsonl = await sampleCalibration({ jsonlPath: jsonl, encode, samples: 5, seqLen: 10, seed: 1 });
    const fromTexts = await sampleCalibration({ texts: docs, encode, samples: 5, seqLen: 10, seed: 1 });
    expect(fromJsonl.rows).toEqual(fromTexts.rows);
    const txt = join(tmp.dir, 'train.txt');
    writeFileSync(txt, 'the quick brown fox jumps over the lazy dog');
    const fromText = await sampleCalibration({ textPath: txt, encode, samples: 3, seqLen: 5, seed: 2 });
    expect(fromText.rows.every((r) => 'the quick brown fox jumps over the lazy dog'.includes(String.fromCharCode(...r)))).toBe(true);
  });

  it('reads gzipped JSON lines (the Hub\'s C4 shards) with the same draws as the plain file', async () => {
    const body = docs.map((text) => JSON.stringify({ text, timestamp: 't', url: 'u' })).join('\n') + '\n';
    const gz = join(tmp.dir, 'c4-validation.00000-of-00008.json.gz');
    writeFileSync(gz, gzipSync(body));
    const plain = join(tmp.dir, 'same.jsonl');
    writeFileSync(plain, body);
    const fromGz = await sampleCalibration({ jsonlPath: gz, encode, samples: 6, seqLen: 10, seed: 3 });
    expect(fromGz.rows).toEqual((await sampleCalibration({ jsonlPath: plain, encode, samples: 6, seqLen: 10, seed: 3 })).rows);
    expect(fromGz.source).toBe(gz);
    const badGz = join(tmp.dir, 'bad.json.gz');
    writeFileSync(badGz, gzipSync('{"text": "ok"}\nnot json\n'));
    await expect(sampleCalibration({ jsonlPath: badGz, encode })).rejects.toThrow(/bad\.json\.gz:2 is not valid JSON/);
    const notGz = join(tmp.dir, 'plain.json.gz');
    writeFileSync(notGz, body);
    await expect(sampleCalibration({ jsonlPath: notGz, encode })).rejects.toThrow(/plain\.json\.gz: not gzipped JSON lines/);
  });

  it('says clearly when documents are too short or the input is malformed', async () => {
    await expect(sampleCalibration({ texts: ['ab', 'cd'], encode, samples: 2, seqLen: 5 })).rejects.toThrow(/shorter --seqlen/);
    const bad = join(tmp.dir, 'bad.jsonl');
    writeFileSync(bad, '{"text": "ok"}\nnot json\n');
    await expect(sampleCalibration({ jsonlPath: bad, encode })).rejects.toThrow(/bad.jsonl:2 is not valid JSON/);
    await expect(sampleCalibration({ encode })).rejects.toBeInstanceOf(CalibrationError);
  });
});
