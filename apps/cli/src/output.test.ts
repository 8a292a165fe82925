import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot, tempDir } from '@llm-bip/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { CleanupRegistry } from './cleanup.js';
import { CliError, ExitCode } from './errors.js';
import { OutputSet, isTempName, prepareOutputDir, writeFileAtomic } from './output.js';

const cleanups: Array<() => void> = [];
afterEach(() => {
  while (cleanups.length) cleanups.pop()!();
});
function tmp(): string {
  const t = tempDir('llm-bip-out-');
  cleanups.push(t.cleanup);
  return t.dir;
}

describe('writeFileAtomic', () => {
  it('replaces the file whole and leaves no temp file', async () => {
    const dir = tmp();
    const p = join(dir, 'plan.json');
    writeFileSync(p, 'old');
    await writeFileAtomic(p, '{"new":true}');
    expect(readFileSync(p, 'utf8')).toBe('{"new":true}');
    expect(readdirSync(dir)).toEqual(['plan.json']);
  });

  it('a missing folder is a clear error and nothing is created', async () => {
    const dir = tmp();
    const err = await writeFileAtomic(join(dir, 'nope', 'a.json'), 'x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).message).toContain('does not exist');
    expect(readdirSync(dir)).toEqual([]);
  });

  it('an aborted signal writes nothing', async () => {
    const dir = tmp();
    const ac = new AbortController();
    ac.abort();
    await expect(writeFileAtomic(join(dir, 'a.json'), 'x', { signal: ac.signal })).rejects.toThrow();
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('prepareOutputDir', () => {
  it('creates nested folders and reports the topmost one created', async () => {
    const dir = tmp();
    const r = await prepareOutputDir(join(dir, 'a', 'b'));
    expect(r).toEqual({ dir: join(dir, 'a', 'b'), created: true, createdRoot: join(dir, 'a') });
    expect(readdirSync(join(dir, 'a', 'b'))).toEqual([]);
    expect(await prepareOutputDir(join(dir, 'a', 'b'))).toEqual({ dir: join(dir, 'a', 'b'), created: false });
  });

  it('a file in the way is an output error', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'f'), '');
    await expect(prepareOutputDir(join(dir, 'f'))).rejects.toMatchObject({ exitCode: ExitCode.output, message: expect.stringContaining('is a file, not a folder') });
  });

  it('a folder without write permission is named with the fix, exit 4 (checked as a non-root process)', () => {
    const dir = tmp();
    const ro = join(dir, 'ro');
    mkdirSync(ro);
    chmodSync(dir, 0o755);
    chmodSync(ro, 0o555);
    // root may write anywhere: run the check as "nobody" when we are root
    const asNobody = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
    const script = `import { prepareOutputDir } from './apps/cli/src/output.ts';
      prepareOutputDir(${JSON.stringify(ro)}).then(() => { console.log('ok'); }, (e) => { console.log(e.exitCode + ' ' + e.message); });`;
    const r = spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: repoRoot,
      encoding: 'utf8',
      env: { ...process.env, HOME: dir, TSX_DISABLE_CACHE: '1' },
      ...asNobody,
    });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe(`4 output folder ${ro} is not writable (EACCES): choose another folder with -o, or fix its permissions`);
    expect(readdirSync(ro)).toEqual([]);
  });
});

describe('OutputSet', () => {
  it('stages files out of sight and moves them in on commit', async () => {
    const dir = tmp();
    const cleanup = new CleanupRegistry();
    const out = await OutputSet.open(join(dir, 'out'), cleanup);
    await out.write('model.onnx', new Uint8Array([1, 2, 3]));
    await out.write('results.json', '{}');
    expect(readdirSync(join(dir, 'out')).every(isTempName)).toBe(true);
    const files = await out.commit();
    expect(files).toEqual([join(dir, 'out', 'model.onnx'), join(dir, 'out', 'results.json')]);
    expect(readdirSync(join(dir, 'out')).sort()).toEqual(['model.onnx', 'results.json']);
    expect(cleanup.pending).toEqual([]);
  });

  it('the cleanup registry removes a staged set (what Ctrl-C does), including the folder it created', async () => {
    const dir = tmp();
    const cleanup = new CleanupRegistry();
    const out = await OutputSet.open(join(dir, 'x', 'out'), cleanup);
    await out.write('model.onnx', 'partial');
    expect(cleanup.pending.length).toBe(2);
    cleanup.removeAll();
    expect(existsSync(join(dir, 'x'))).toBe(false);
  });

  it('refuses names that would escape the folder', async () => {
    const dir = tmp();
    const out = await OutputSet.open(dir, new CleanupRegistry());
    expect(() => out.path('../evil')).toThrow(/plain file name/);
    await out.discard();
    expect(readdirSync(dir)).toEqual([]);
  });
});
