/**
 * A minimal LLaMA-style tokenizer.json (BPE with byte fallback, Metaspace) of `vocabSize` tokens for tiny
 * random models: <unk> <s> </s>, the 256 byte tokens <0x00>..<0xFF> (ids 3..258, as in LLaMA), then
 * a few pieces and merges, then filler pieces. Needs vocabSize >= 270.
 */
export const SYNTHETIC_PIECES = ['▁', 'a', 'b', 'c', 'd', 'e', '▁a', 'ab', '▁ab', 'cd', '▁cd'];

export function syntheticTokenizerJson(vocabSize: number): Record<string, unknown> {
  const first = 3 + 256;
  if (vocabSize < first + SYNTHETIC_PIECES.length) throw new Error(`syntheticTokenizerJson: vocabSize ${vocabSize} < ${first + SYNTHETIC_PIECES.length}`);
  const vocab: Record<string, number> = { '<unk>': 0, '<s>': 1, '</s>': 2 };
  for (let b = 0; b < 256; b++) vocab[`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`] = 3 + b;
  for (let id = first; id < vocabSize; id++) vocab[SYNTHETIC_PIECES[id - first] ?? `x${id}`] = id;
  return {
    version: '1.0',
    added_tokens: [0, 1, 2].map((id) => ({ id, content: ['<unk>', '<s>', '</s>'][id], special: true })),
    normalizer: null,
    pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'first', split: true },
    post_processor: { type: 'TemplateProcessing', single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }] },
    decoder: { type: 'Sequence', decoders: [] },
    model: { type: 'BPE', unk_token: '<unk>', byte_fallback: true, vocab, merges: [['▁', 'a'], ['a', 'b'], ['▁a', 'b'], ['c', 'd'], ['▁', 'cd']] },
  };
}
