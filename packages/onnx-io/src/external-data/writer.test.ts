import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '@llm-bip/testing';
import { ExternalDataWriter } from './writer.js';

const tmp = tempDir();
afterAll(tmp.cleanup);

describe('ExternalDataWriter', () => {
  it('places every tensor at an aligned offset and copies ranges from another file', async () => {
    const src = Uint8Array.from({ length: 10_000 }, (_, i) => (i * 7) & 0xff);
    writeFileSync(join(tmp.dir, 'src.bin'), src);
    const target = join(tmp.dir, 'out.data');
    const w = await ExternalDataWriter.create(target, 4096);
    const a = await w.append(new Uint8Array([1, 2, 3]));
    const fh = await open(join(tmp.dir, 'src.bin'), 'r');
    const b = await w.copyFrom(fh, 1000, 5000);
    await fh.close();
    const c = await w.append(new Uint8Array(4096).fill(9));
    expect([a, b, c]).toEqual([
      { offset: 0, length: 3 },
      { offset: 4096, length: 5000 },
      { offset: 12288, length: 4096 },
    ]);
    expect(existsSync(target)).toBe(false); // nothing at the target before commit
    await w.commit();
    const out = readFileSync(target);
    expect(out.length).toBe(12288 + 4096);
    expect(Array.from(out.subarray(0, 4))).toEqual([1, 2, 3, 0]);
    expect(Buffer.compare(out.subarray(4096, 9096), Buffer.from(src.subarray(1000, 6000)))).toBe(0);
    expect(out.subarray(9096, 12288).every((x) => x === 0)).toBe(true);
    expect(out.subarray(12288).every((x) => x === 9)).toBe(true);
  });

  it('padToAlignment ends the file on the alignment with zeros, and is a no-op when already aligned', async () => {
    const target = join(tmp.dir, 'padded.data');
    const w = await ExternalDataWriter.create(target, 32);
    await w.append(new Uint8Array(40).fill(5));
    await w.padToAlignment();
    expect(w.size).toBe(64);
    await w.padToAlignment();
    expect(w.size).toBe(64);
    await w.commit();
    const out = readFileSync(target);
    expect(out.length).toBe(64);
    expect(out.subarray(40).every((x) => x === 0)).toBe(true);
  });

  it('abort leaves no file behind', async () => {
    const target = join(tmp.dir, 'aborted.data');
    const before = readdirSync(tmp.dir).length;
    const w = await ExternalDataWriter.create(target);
    await w.append(new Uint8Array(10));
    expect(readdirSync(tmp.dir).length).toBe(before + 1);
    await w.abort();
    expect(readdirSync(tmp.dir).length).toBe(before);
    expect(existsSync(target)).toBe(false);
  });
});
