/**
 * Calibration reads and encodes only what it needs, and the default calibration set (the C4 sample,
 * 128 x 128, seed 0, the test-bed tokenizer) gives exactly the windows of the previous
 * implementation, which read the whole file and encoded every drawn record whole.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadTokenizer } from '@llm-bip/eval';
import { LONG_DOCUMENT_CHARS, sampleCalibration, seededRng } from '@llm-bip/scoring';
import { fixtures, shared, tempDir } from '@llm-bip/testing';

/** The sampling rule as it was (whole file read, whole documents encoded): the reference. */
function previousSampling(docs: string[], encode: (t: string) => number[], samples: number, seqLen: number, seed: number): number[][] {
  const rng = seededRng(seed);
  const cache = new Map<number, number[]>();
  const rows: number[][] = [];
  while (rows.length < samples) {
    const d = rng.int(docs.length);
    let ids = cache.get(d);
    if (!ids) cache.set(d, (ids = encode(docs[d]!)));
    if (ids.length <= seqLen) continue;
    const start = rng.int(ids.length - seqLen + 1);
    rows.push(ids.slice(start, start + seqLen));
  }
  return rows;
}

describe('calibration windows', () => {
  const tmp = tempDir('llm-bip-calib-');
  afterAll(tmp.cleanup);

  it('the default C4 sample, 128 x 128, seed 0: the same windows as the previous implementation', async () => {
    const c4 = shared('data/c4/c4_sample.jsonl');
    const tok = loadTokenizer(fixtures.tinyHf);
    const encode = (t: string) => tok.encode(t);
    const docs = readFileSync(c4, 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => (JSON.parse(l) as { text: string }).text);
    expect(Math.max(...docs.map((d) => d.length))).toBeLessThan(LONG_DOCUMENT_CHARS); // every record is encoded whole
    const now = await sampleCalibration({ jsonlPath: c4, encode, samples: 128, seqLen: 128, seed: 0 });
    expect(now.rows).toEqual(previousSampling(docs, encode, 128, 128, 0));
  });

  it('a 4 MB text file: encodes about samples x seqLen x 16 characters, not the whole file', async () => {
    const words = ['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta'];
    const rng = seededRng(3);
    const parts: string[] = [];
    for (let n = 0; n < 4_000_000; ) {
      const w = words[rng.int(words.length)]!;
      parts.push(w);
      n += w.length + 1;
    }
    const text = parts.join(' ');
    const file = join(tmp.dir, 'train.txt');
    writeFileSync(file, text);
    let encoded = 0;
    const encode = (t: string) => {
      encoded += t.length;
      return Array.from(t, (c) => c.charCodeAt(0)); // one id per character
    };
    const t0 = performance.now();
    const set = await sampleCalibration({ textPath: file, encode, samples: 64, seqLen: 128, seed: 0 });
    const ms = performance.now() - t0;
    expect(set.rows).toHaveLength(64);
    for (const row of set.rows) expect(text.includes(String.fromCharCode(...row))).toBe(true);
    expect(encoded).toBeLessThanOrEqual(64 * 128 * 16);
    expect(ms).toBeLessThan(5000);
    // seeded: the same windows again
    expect((await sampleCalibration({ textPath: file, encode, samples: 64, seqLen: 128, seed: 0 })).rows).toEqual(set.rows);
  });

  it('--samples 1e9 is refused before anything is read, naming the limit', async () => {
    await expect(sampleCalibration({ texts: ['x'], encode: () => [], samples: 1e9 })).rejects.toThrow(/samples is 1000000000, over the limit of \d+/);
  });
});
