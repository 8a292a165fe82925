/**
 * Real tokenizers of current families over the whole WikiText-2 test set, PTB validation and the C4
 * sample: ids equal Python `tokenizers` (count and sha256 of every id). Minutes in all: the JS
 * tokenizer runs at about 100-200k characters a second here.
 */
import { describe, expect, it } from 'vitest';
import { loadTokenizer } from './tokenizer.js';
import { digestOf, FAMILY_TOKENIZERS, REFERENCE_TEXTS, referenceText, references, tokenizerDir } from './tokenizer-families.testutil.js';

describe.each(FAMILY_TOKENIZERS)('%s tokenizer, whole texts', (name) => {
  const tok = loadTokenizer(tokenizerDir(name));
  it.each(REFERENCE_TEXTS)('%s: ids equal Python tokenizers', async (text) => {
    const started = Date.now();
    const got = digestOf(tok.encode(await referenceText(text), { addBos: false, addEos: false }));
    console.log(`[tokenizer] ${name} ${text}: ${got.count} ids in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    expect(got).toEqual(references.by_tokenizer[name].texts[text].whole);
  }, 600_000);
});
