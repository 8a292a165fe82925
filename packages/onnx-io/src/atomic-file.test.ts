import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '@llm-bip/testing';
import { committedPathOf, isTempName, stagingDirIn, stagingDirPid, tempNamePid, tempPathFor, writeFileAtomic, writeFileAtomicSync, writeJsonAtomic } from './atomic-file.js';

const tmp = tempDir();
afterAll(tmp.cleanup);
let n = 0;
const fresh = () => {
  const d = join(tmp.dir, `case-${n++}`);
  mkdirSync(d);
  return d;
};

describe('writeFileAtomic', () => {
  it('replaces a file whole, leaving no temp file', async () => {
    const d = fresh();
    writeFileSync(join(d, 'a.json'), 'old');
    await writeFileAtomic(join(d, 'a.json'), '{"new":true}');
    await writeFileAtomic(join(d, 'b.bin'), new Uint8Array([1, 2, 3]));
    expect(readFileSync(join(d, 'a.json'), 'utf8')).toBe('{"new":true}');
    expect([...readFileSync(join(d, 'b.bin'))]).toEqual([1, 2, 3]);
    expect(readdirSync(d).sort()).toEqual(['a.json', 'b.bin']);
  });

  it('keeps the old file and removes the temp file when the write fails or is aborted', async () => {
    const d = fresh();
    writeFileSync(join(d, 'a.json'), 'old');
    const temps: string[] = [];
    await expect(writeFileAtomic(join(d, 'a.json'), 'new', { signal: AbortSignal.abort() })).rejects.toThrow();
    // the rename target is a folder: the write succeeds, the rename fails
    mkdirSync(join(d, 'dir'));
    writeFileSync(join(d, 'dir', 'x'), 'x');
    await expect(writeFileAtomic(join(d, 'dir'), 'new', { onTemp: (p, done) => !done && temps.push(p) })).rejects.toThrow();
    expect(temps).toHaveLength(1);
    expect(existsSync(temps[0]!)).toBe(false);
    expect(readFileSync(join(d, 'a.json'), 'utf8')).toBe('old');
    expect(readdirSync(d).sort()).toEqual(['a.json', 'dir']);
  });

  it('names the missing folder unless asked to create it', async () => {
    const d = fresh();
    await expect(writeFileAtomic(join(d, 'no', 'a.json'), 'x')).rejects.toMatchObject({ code: 'ENOENT' });
    await writeJsonAtomic(join(d, 'no', 'a.json'), { a: [1] }, { mkdir: true, space: 2 });
    expect(readFileSync(join(d, 'no', 'a.json'), 'utf8')).toBe('{\n  "a": [\n    1\n  ]\n}\n');
    await writeJsonAtomic(join(d, 'no', 'b.json'), { a: 1 });
    expect(readFileSync(join(d, 'no', 'b.json'), 'utf8')).toBe('{"a":1}');
  });

  it('has a synchronous twin with the same outcome', () => {
    const d = fresh();
    writeFileAtomicSync(join(d, 'sub', 'c.txt'), 'hello', { mkdir: true });
    writeFileAtomicSync(join(d, 'sub', 'c.txt'), 'again');
    expect(readFileSync(join(d, 'sub', 'c.txt'), 'utf8')).toBe('again');
    expect(readdirSync(join(d, 'sub'))).toEqual(['c.txt']);
    expect(() => writeFileAtomicSync(join(d, 'missing', 'c.txt'), 'x')).toThrow(/ENOENT/);
  });
});

describe('temp and staging names', () => {
  it('carry the pid, so leftovers of dead runs are recognisable', () => {
    const t = tempPathFor('/x/y/model.onnx');
    expect(t.startsWith('/x/y/.llm-bip-tmp-')).toBe(true);
    expect(isTempName(t)).toBe(true);
    expect(isTempName('/x/y/model.onnx')).toBe(false);
    expect(tempNamePid(t)).toBe(process.pid);
    const s = stagingDirIn('/x/y');
    expect(stagingDirPid(s)).toBe(process.pid);
    expect(stagingDirPid(t)).toBeUndefined(); // a temp file is not a staging folder
  });

  it('committedPathOf maps a staged file to the folder it is committed into', () => {
    const s = stagingDirIn('/out/run');
    expect(committedPathOf(join(s, 'model.onnx'))).toBe('/out/run/model.onnx');
    expect(committedPathOf('/out/run/model.onnx')).toBe('/out/run/model.onnx');
  });
});
