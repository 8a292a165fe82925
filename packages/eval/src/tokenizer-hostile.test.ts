/** Damaged tokenizer files and token caches: clear errors naming the file, or a rebuilt cache. */
import { copyFileSync, mkdirSync, readFileSync, readdirSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fixtures, tempDir } from '@llm-bip/testing';
import { TokenizerError } from './errors.js';
import { encodeCached } from './token-cache.js';
import { loadTokenizer } from './tokenizer.js';

const tmp = tempDir('llm-bip-tok-hostile-');
afterAll(tmp.cleanup);
let n = 0;
function folder(files: Record<string, string>): string {
  const dir = join(tmp.dir, `m${n++}`);
  mkdirSync(dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}
const realTokenizer = () => readFileSync(join(fixtures.tinyHf, 'tokenizer.json'), 'utf8');

describe('hostile tokenizer files', () => {
  it('tokenizer.json "{}" is a TokenizerError naming the file', () => {
    const dir = folder({ 'tokenizer.json': '{}' });
    expect(() => loadTokenizer(dir)).toThrow(TokenizerError);
    expect(() => loadTokenizer(dir)).toThrow(`${join(dir, 'tokenizer.json')} has no "model" section`);
  });

  it('a tokenizer_config.json that is not JSON is a TokenizerError naming that file', () => {
    const dir = folder({ 'tokenizer.json': realTokenizer(), 'tokenizer_config.json': '{ not json' });
    expect(() => loadTokenizer(dir)).toThrow(TokenizerError);
    expect(() => loadTokenizer(dir)).toThrow(`${join(dir, 'tokenizer_config.json')} is not valid JSON`);
  });

  it('a folder where tokenizer_config.json is expected is a TokenizerError', () => {
    const dir = folder({ 'tokenizer.json': realTokenizer() });
    mkdirSync(join(dir, 'tokenizer_config.json'));
    expect(() => loadTokenizer(dir)).toThrow(/tokenizer_config.json is not a file/);
  });
});

describe('token cache integrity', () => {
  it('a truncated cache file is rebuilt with a warning, never read short', () => {
    const dir = folder({});
    copyFileSync(join(fixtures.tinyHf, 'tokenizer.json'), join(dir, 'tokenizer.json'));
    copyFileSync(join(fixtures.tinyHf, 'tokenizer_config.json'), join(dir, 'tokenizer_config.json'));
    const tok = loadTokenizer(dir);
    const cacheDir = join(dir, 'cache');
    const text = 'The quick brown fox jumps over the lazy dog. '.repeat(40);
    const first = encodeCached(tok, text, { cacheDir });
    const file = join(cacheDir, readdirSync(cacheDir)[0]!);
    truncateSync(file, readFileSync(file).length - 4 * 10);
    const warnings: string[] = [];
    const again = encodeCached(tok, text, { cacheDir, warn: (w) => warnings.push(w) });
    expect(again).toEqual({ ids: first.ids, cached: false });
    expect(warnings[0]).toMatch(/is damaged \(it holds \d+ of its \d+ ids \(truncated\)\); tokenizing again/);
    expect(encodeCached(tok, text, { cacheDir })).toEqual({ ids: first.ids, cached: true });
  });
});
