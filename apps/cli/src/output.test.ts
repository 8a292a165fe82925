import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { repoRoot, tempDir } from '@llm-bip/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { CleanupRegistry } from './cleanup.js';
import { CliError, ExitCode } from './errors.js';
import { LOCK_NAME, OutputSet, isTempName, prepareOutputDir, writeFileAtomic } from './output.js';

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
    expect(r).toEqual({ dir: join(dir, 'a', 'b'), created: true, createdRoot: join(dir, 'a'), createdDirs: [join(dir, 'a'), join(dir, 'a', 'b')] });
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

  it('the cleanup registry removes a staged set (what Ctrl-C does), including the folders it created', async () => {
    const dir = tmp();
    const cleanup = new CleanupRegistry();
    const out = await OutputSet.open(join(dir, 'x', 'out'), cleanup);
    await out.write('model.onnx', 'partial');
    expect(cleanup.pending.sort()).toEqual([join(dir, 'x'), join(dir, 'x', 'out'), join(dir, 'x', 'out', LOCK_NAME), out.stagingDir].sort());
    cleanup.removeAll();
    expect(existsSync(join(dir, 'x'))).toBe(false);
  });

  it('an interrupted run removes only its own files: never a folder another run has written into (#17 class 2)', async () => {
    const dir = tmp();
    const a = new CleanupRegistry();
    const outA = await OutputSet.open(join(dir, 'x', 'new', 'out'), a); // run A creates x/new/out
    await outA.write('model.onnx', 'A partial');
    // run B finishes a model in x/new/other meanwhile (x/new/out is locked by A)
    const b = new CleanupRegistry();
    const outB = await OutputSet.open(join(dir, 'x', 'new', 'other'), b);
    await outB.write('model.onnx', 'B');
    await outB.commit();
    a.removeAll(); // A is interrupted
    expect(readFileSync(join(dir, 'x', 'new', 'other', 'model.onnx'), 'utf8')).toBe('B');
    expect(readdirSync(join(dir, 'x', 'new'))).toEqual(['other']);
  });

  it('a second run into a locked folder fails at once naming the first, exit 4; after commit the folder is free', async () => {
    const dir = tmp();
    const first = await OutputSet.open(join(dir, 'out'), new CleanupRegistry());
    await first.write('model.onnx', 'first');
    const err = await OutputSet.open(join(dir, 'out'), new CleanupRegistry()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).exitCode).toBe(ExitCode.output);
    expect((err as CliError).message).toContain(`another llm-bip run (pid ${process.pid}`);
    expect((err as CliError).message).toContain(`is writing into ${join(dir, 'out')}: wait for it to finish, or choose another folder with -o`);
    await first.commit();
    const second = await OutputSet.open(join(dir, 'out'), new CleanupRegistry());
    await second.write('model.onnx', 'second');
    await second.commit();
    expect(readdirSync(join(dir, 'out'))).toEqual(['model.onnx']);
    expect(readFileSync(join(dir, 'out', 'model.onnx'), 'utf8')).toBe('second');
  });

  it('reclaims the lock, staging folder and temp files of a dead run, and nothing else', async () => {
    const dir = tmp();
    const out = join(dir, 'out');
    mkdirSync(out);
    // a pid that is certainly dead: a child that has exited
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
    writeFileSync(join(out, LOCK_NAME), JSON.stringify({ pid: Number(dead), host: hostname(), startedAt: 'then', command: 'prune' }));
    mkdirSync(join(out, `.llm-bip-tmp-${dead}-0123abcd`));
    writeFileSync(join(out, `.llm-bip-tmp-${dead}-0123abcd`, 'model.onnx.data'), 'junk');
    writeFileSync(join(out, `.llm-bip-tmp-${dead}-89abcdef-plan.json.tmp`), 'junk');
    writeFileSync(join(out, 'keep.txt'), 'user file');
    const set = await OutputSet.open(out, new CleanupRegistry());
    expect(readdirSync(out).sort()).toEqual([LOCK_NAME, set.stagingDir.slice(out.length + 1), 'keep.txt'].sort());
    await set.discard();
    expect(readdirSync(out)).toEqual(['keep.txt']);
  });

  it('commit replaces nothing when a folder is in the way of one of its files', async () => {
    const dir = tmp();
    const out = join(dir, 'out');
    mkdirSync(out);
    writeFileSync(join(out, 'a.json'), 'old a');
    mkdirSync(join(out, 'b.json'));
    writeFileSync(join(out, 'b.json', 'x'), 'x');
    const set = await OutputSet.open(out, new CleanupRegistry());
    await set.write('a.json', 'new a');
    await set.write('b.json', 'new b');
    await expect(set.commit()).rejects.toMatchObject({ exitCode: ExitCode.output, message: expect.stringContaining(`cannot write ${join(out, 'b.json')}: a folder of that name is in the way`) });
    expect(readFileSync(join(out, 'a.json'), 'utf8')).toBe('old a');
    expect(readFileSync(join(out, 'b.json', 'x'), 'utf8')).toBe('x');
    await set.discard();
    expect(readdirSync(out).sort()).toEqual(['a.json', 'b.json']);
  });

  it('refuses names that would escape the folder', async () => {
    const dir = tmp();
    const out = await OutputSet.open(dir, new CleanupRegistry());
    expect(() => out.path('../evil')).toThrow(/plain file name/);
    await out.discard();
    expect(readdirSync(dir)).toEqual([]);
  });
});
