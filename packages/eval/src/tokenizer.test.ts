import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fixtures, tempDir } from '@llm-bip/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { TokenizerError } from './errors.js';
import { encodeCached } from './token-cache.js';
import { loadTokenizer } from './tokenizer.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

describe('loadTokenizer', () => {
  const tok = loadTokenizer(fixtures.tinyHf);

  it('prepends BOS as tokenizer_config.json says (testbed: [1, ...], no EOS)', () => {
    expect(tok.addBos).toBe(true);
    expect(tok.addEos).toBe(false);
    expect(tok.bosId).toBe(1);
    expect(tok.eosId).toBe(2);
    const ids = tok.encode('The quick brown fox');
    expect(ids[0]).toBe(1);
    expect(ids.slice(1)).toEqual(tok.encode('The quick brown fox', { addBos: false }));
    expect(tok.encode('fox', { addEos: true }).at(-1)).toBe(2);
    expect(ids.filter((i) => i === 1)).toHaveLength(1);
  });

  it('decode inverts encode on ordinary text', () => {
    const text = 'The capital of France is Paris. It has 2,000 years of history.';
    const ids = tok.encode(text, { addBos: false });
    expect(ids.length).toBeGreaterThan(5);
    expect(tok.decode(ids)).toBe(text);
  });

  it('without tokenizer_config.json the post-processor decides', () => {
    const dir = join(tmp.dir, 'no-config');
    mkdirSync(dir);
    copyFileSync(join(fixtures.tinyHf, 'tokenizer.json'), join(dir, 'tokenizer.json'));
    const bare = loadTokenizer(join(dir, 'tokenizer.json'));
    expect(bare.encode('Hello world')).toEqual(tok.encode('Hello world')); // TemplateProcessing adds <s>
    expect(bare.hash).not.toBe(tok.hash);
  });

  it('a missing tokenizer.json is a TokenizerError naming the path', () => {
    expect(() => loadTokenizer(join(tmp.dir, 'nowhere'))).toThrow(TokenizerError);
    expect(() => loadTokenizer(join(tmp.dir, 'nowhere'))).toThrow(/tokenizer\.json not found at .*nowhere/);
  });

  it('caches ids on disk keyed by tokenizer and text', () => {
    const cacheDir = join(tmp.dir, 'cache');
    const text = 'Cached text, with ü and 日本.\n\nSecond row';
    const first = encodeCached(tok, text, { cacheDir });
    const second = encodeCached(tok, text, { cacheDir });
    expect(first.cached).toBe(false);
    expect(second.cached).toBe(true);
    expect(second.ids).toEqual(first.ids);
    expect(first.ids).toEqual(tok.encode(text));
    const noBos = encodeCached(tok, text, { cacheDir, addBos: false });
    expect(noBos.cached).toBe(false);
    expect(noBos.ids).toEqual(first.ids.slice(1));
    expect(readdirSync(cacheDir).filter((f) => f.endsWith('.i32'))).toHaveLength(2);
    expect(readdirSync(cacheDir).filter((f) => f.endsWith('.tmp'))).toHaveLength(0);
  });
});
