import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '@llm-bip/testing';
import { externalDataRef, resolveExternalLocation, UnsafeExternalDataError } from './location.js';
import { readExternalBytes } from './read.js';

const tmp = tempDir();
afterAll(tmp.cleanup);
const modelDir = join(tmp.dir, 'model');
const outside = join(tmp.dir, 'secret.bin');
mkdirSync(join(modelDir, 'weights'), { recursive: true });
writeFileSync(outside, 'top secret');
writeFileSync(join(modelDir, 'weights', 'w.bin'), new Uint8Array(16));
symlinkSync(outside, join(modelDir, 'escape.bin'));
symlinkSync(tmp.dir, join(modelDir, 'up'));
symlinkSync(join(modelDir, 'weights', 'w.bin'), join(modelDir, 'inside.bin'));

const tensor = (location: string, extra: Record<string, string> = {}) => ({
  name: 'layer.w',
  dataType: 1,
  dims: [4],
  dataLocation: 1,
  externalData: [{ key: 'location', value: location }, ...Object.entries(extra).map(([key, value]) => ({ key, value }))],
});

describe('external data locations', () => {
  it('resolves plain relative paths and in-folder symlinks', () => {
    expect(resolveExternalLocation(modelDir, 'weights/w.bin')).toBe(join(modelDir, 'weights', 'w.bin'));
    expect(resolveExternalLocation(modelDir, 'inside.bin')).toBe(join(modelDir, 'inside.bin'));
  });

  it.each([
    ['absolute path', outside, /absolute path/],
    ['drive letter', 'C:\\secret.bin', /absolute path/],
    ['.. component', '../secret.bin', /contains "\.\."/],
    ['.. inside the path', 'weights/../../secret.bin', /contains "\.\."/],
    ['backslash ..', 'weights\\..\\..\\secret.bin', /contains "\.\."/],
    ['symlink to a file outside', 'escape.bin', /symbolic link.*outside the model folder/],
    ['symlinked folder outside', 'up/secret.bin', /symbolic link.*outside the model folder/],
    ['the folder itself', '.', /names no file/],
  ])('rejects %s, naming the tensor and the location', async (_what, location, why) => {
    const t = tensor(location);
    await expect(readExternalBytes(t, modelDir)).rejects.toThrow(UnsafeExternalDataError);
    await expect(readExternalBytes(t, modelDir)).rejects.toThrow(why);
    await expect(readExternalBytes(t, modelDir)).rejects.toThrow(`tensor "layer.w": external data location "${location}"`);
  });

  it('parses offset and length, and rejects malformed numbers', () => {
    expect(externalDataRef(tensor('a.bin', { offset: '4096', length: '16' }))).toEqual({ location: 'a.bin', offset: 4096, length: 16 });
    expect(externalDataRef(tensor('a.bin'))).toEqual({ location: 'a.bin', offset: 0, length: undefined });
    expect(() => externalDataRef(tensor('a.bin', { offset: '-5' }))).toThrow(/offset "-5" is not a non-negative integer/);
    expect(() => externalDataRef(tensor('a.bin', { length: '1e3' }))).toThrow(/length "1e3"/);
    expect(() => externalDataRef({ name: 'x', dataLocation: 1, externalData: [] })).toThrow(/no "location"/);
  });
});
