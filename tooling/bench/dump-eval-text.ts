/**
 * Writes the evaluation string of a perplexity set (what `llm-bip eval --ppl NAME` scores) to a file, for
 * references outside Node (tooling/gpu/torch_eval_speed.py): the same text, built by the same loader.
 *   node --conditions=source --import tsx tooling/bench/dump-eval-text.ts wikitext2 OUT.txt [--data DIR]
 */
import { writeFileSync } from 'node:fs';
import { loadTextDataset, locatePerplexitySet } from '@llm-bip/eval';
import { dataDir } from 'llm-bip';

const [name, out] = process.argv.slice(2);
const dataAt = process.argv.indexOf('--data');
if (!name || !out) {
  console.error('usage: dump-eval-text.ts SET OUT.txt [--data DIR]   (SET: wikitext2, ptb, ...)');
  process.exit(2);
}
// the CLI's own search order (--data, $LLM_BIP_DATA, the cache, ../shared/data beside the checkout)
const data = dataDir(dataAt > 0 ? process.argv[dataAt + 1] : undefined);
const set = await loadTextDataset(name, locatePerplexitySet(name, data));
writeFileSync(out, set.text);
console.log(`${name}: ${set.text.length} characters from ${set.path} -> ${out}`);
