import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '@llm-bip/testing';
import { readTensorBytes } from '../tensor/tensor-data.js';
import { ExternalDataError, readExternalBytes } from './read.js';

const tmp = tempDir();
afterAll(tmp.cleanup);
const file = Uint8Array.from({ length: 100 }, (_, i) => i);
writeFileSync(join(tmp.dir, 'd.bin'), file);

const ext = (offset: number, length: number | undefined, dims = [length ?? 0]) => ({
  name: 'w',
  dataType: 2, // uint8: one byte per element
  dims,
  dataLocation: 1,
  externalData: [
    { key: 'location', value: 'd.bin' },
    { key: 'offset', value: String(offset) },
    ...(length === undefined ? [] : [{ key: 'length', value: String(length) }]),
  ],
});

describe('reading external data', () => {
  it('reads exactly the byte range at the offset', async () => {
    expect(Array.from(await readExternalBytes(ext(10, 5), tmp.dir))).toEqual([10, 11, 12, 13, 14]);
    // length omitted: taken from dims x element size
    expect(Array.from(await readTensorBytes(ext(97, undefined, [3]), tmp.dir))).toEqual([97, 98, 99]);
  });

  it('names the tensor and the shortfall when the data file is truncated', async () => {
    const p = readExternalBytes(ext(90, 20), tmp.dir);
    await expect(p).rejects.toThrow(ExternalDataError);
    await expect(readExternalBytes(ext(90, 20), tmp.dir)).rejects.toThrow(/tensor "w".*truncated.*bytes 90\.\.110, the file has 100/);
  });

  it('rejects a stored length that disagrees with dims', async () => {
    await expect(readTensorBytes(ext(0, 8, [4]), tmp.dir)).rejects.toThrow(/length 8 does not match .* \(4 bytes\)/);
  });

  it('says which file is missing', async () => {
    const t = { ...ext(0, 4), externalData: [{ key: 'location', value: 'gone.bin' }] };
    await expect(readExternalBytes(t, tmp.dir)).rejects.toThrow(/cannot open external data file .*gone\.bin \(ENOENT\)/);
  });
});
