/** The tokenizer copy never carries a linked (possibly private) file into the output folder. */
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from '@llm-bip/testing';
import { CleanupRegistry } from '../cleanup.js';
import { ExitCode } from '../errors.js';
import { OutputSet } from '../output.js';
import { copyTokenizerFiles } from './tokenizer-files.js';

const dirs: Array<() => void> = [];
afterEach(() => {
  while (dirs.length) dirs.pop()!();
});
function setup(): { model: string; outside: string; outDir: string } {
  const t = tempDir('llm-bip-tokfiles-');
  dirs.push(t.cleanup);
  const model = join(t.dir, 'model');
  mkdirSync(model);
  writeFileSync(join(model, 'tokenizer.json'), '{"model":{}}');
  const outside = join(t.dir, 'id_rsa');
  writeFileSync(outside, 'PRIVATE KEY', { mode: 0o600 });
  return { model, outside, outDir: join(t.dir, 'out') };
}

async function copyInto(model: string, outDir: string): Promise<{ copied?: string[]; error?: unknown; files: string[] }> {
  const cleanup = new CleanupRegistry();
  const out = await OutputSet.open(outDir, cleanup);
  try {
    const copied = await copyTokenizerFiles(model, out);
    await out.commit();
    return { copied, files: readdirSync(outDir) };
  } catch (error) {
    cleanup.removeAll();
    return { error, files: existsSync(outDir) ? readdirSync(outDir, { recursive: true }).map(String) : [] };
  }
}

describe('copyTokenizerFiles', () => {
  it('refuses a tokenizer_config.json that links to a file outside the model folder; the secret is not copied', async () => {
    const { model, outside, outDir } = setup();
    symlinkSync(outside, join(model, 'tokenizer_config.json'));
    const r = await copyInto(model, outDir);
    expect(r.error).toMatchObject({ exitCode: ExitCode.input, message: expect.stringContaining('tokenizer_config.json is a symbolic link') });
    expect(r.files).not.toContain('tokenizer_config.json');
  });

  it('refuses a folder where a tokenizer file is expected', async () => {
    const { model, outDir } = setup();
    mkdirSync(join(model, 'special_tokens_map.json'));
    const r = await copyInto(model, outDir);
    expect(r.error).toMatchObject({ exitCode: ExitCode.input, message: expect.stringContaining('is not a regular file') });
  });

  it('copies regular files without widening their permissions', async () => {
    const { model, outDir } = setup();
    writeFileSync(join(model, 'tokenizer_config.json'), '{}');
    chmodSync(join(model, 'tokenizer_config.json'), 0o600);
    chmodSync(join(model, 'tokenizer.json'), 0o444);
    const r = await copyInto(model, outDir);
    expect(r.copied).toEqual(['tokenizer.json', 'tokenizer_config.json']);
    expect(statSync(join(outDir, 'tokenizer_config.json')).mode & 0o777).toBe(0o600);
    expect(statSync(join(outDir, 'tokenizer.json')).mode & 0o777).toBe(0o644);
  });

  it('follows the links of a Hugging Face hub snapshot into its own blobs/ folder, and no further', async () => {
    const t = tempDir('llm-bip-tokfiles-hub-');
    dirs.push(t.cleanup);
    const repo = join(t.dir, 'models--org--name');
    const snapshot = join(repo, 'snapshots', 'abc123');
    mkdirSync(join(repo, 'blobs'), { recursive: true });
    mkdirSync(snapshot, { recursive: true });
    writeFileSync(join(repo, 'blobs', 'f00d'), '{"model":{"type":"BPE"}}');
    symlinkSync('../../blobs/f00d', join(snapshot, 'tokenizer.json'));
    const ok = await copyInto(snapshot, join(t.dir, 'out'));
    expect(ok.copied).toEqual(['tokenizer.json']);
    expect(readFileSync(join(t.dir, 'out', 'tokenizer.json'), 'utf8')).toBe('{"model":{"type":"BPE"}}');

    // a snapshot link that leaves blobs/ is still refused
    writeFileSync(join(t.dir, 'id_rsa'), 'PRIVATE KEY', { mode: 0o600 });
    symlinkSync(join(t.dir, 'id_rsa'), join(snapshot, 'tokenizer_config.json'));
    const bad = await copyInto(snapshot, join(t.dir, 'out2'));
    expect(bad.error).toMatchObject({ exitCode: ExitCode.input, message: expect.stringContaining('tokenizer_config.json is a symbolic link') });
    expect(bad.files).not.toContain('tokenizer_config.json');
  });
});
