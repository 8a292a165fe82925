// no imports: the data catalogue and the perplexity readers both read this table
export type PerplexitySetName = 'wikitext2' | 'ptb' | 'ptb-test';

/** Where each perplexity set lives in the development copy's layout (../shared/data); the Hub's parquet layout is in data/catalogue.ts. */
export const perplexitySetFiles: Record<PerplexitySetName, string> = {
  wikitext2: 'wikitext-2-raw-v1/wiki.test.raw',
  ptb: 'ptb/ptb.valid.txt',
  'ptb-test': 'ptb/ptb.test.txt',
};

