/**
 * tokenizer.json (Hugging Face) -> llama.cpp's `tokenizer.ggml.*` keys.
 *
 * Supported: the LLaMA-1/2 family's tokenizer, BPE with byte fallback over "▁"-marked words (a Metaspace
 * pre-tokenizer, or the older Prepend("▁") + Replace(" ", "▁") normalizer). llama.cpp runs it as its
 * SentencePiece-style tokenizer (`tokenizer.ggml.model = "llama"`), which merges the adjacent pair whose
 * merged piece has the highest score. Scores are therefore the BPE merge ranks, negated (the first
 * merge scores highest), so llama.cpp merges in the order the HF BPE does. Byte-level BPE (GPT-2 /
 * Llama 3 style, `tokenizer.ggml.model = "gpt2"` with a pre-tokenizer regex name) is not mapped yet.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { INPUT_LIMITS } from '@llm-bip/onnx-io';
import { bool, f32s, i32s, str, strs, u32, type GgufMetadata } from '@llm-bip/gguf';
import { GgufExportError } from './errors.js';

/** llama.cpp's token types (llama_token_type). */
export const TokenType = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

export interface GgufVocab {
  metadata: GgufMetadata;
  /** tokens written (the model's vocab size: padded with unused tokens when the embedding has more rows) */
  size: number;
  /** what was mapped, in words */
  description: string;
}

type Json = Record<string, unknown>;

/** `tokenizer` is tokenizer.json or the folder holding it (tokenizer_config.json beside it is read too). */
export function ggufVocab(tokenizer: string, modelVocabSize: number): GgufVocab {
  const path = existsSync(tokenizer) && statSync(tokenizer).isDirectory() ? join(tokenizer, 'tokenizer.json') : tokenizer;
  const json = readJsonFile(path, 'the tokenizer');
  const configPath = join(dirname(path), 'tokenizer_config.json');
  const config = existsSync(configPath) ? readJsonFile(configPath, 'the tokenizer config') : {};
  return vocabFromTokenizerJson(json, config, modelVocabSize, path);
}

function readJsonFile(path: string, what: string): Json {
  if (!existsSync(path)) throw new GgufExportError(`${path} not found: GGUF files carry ${what}; put tokenizer.json beside the model or pass its path`);
  const size = statSync(path).size;
  if (size > INPUT_LIMITS.jsonFileBytes) throw new GgufExportError(`${path} is ${size} bytes, over the ${INPUT_LIMITS.jsonFileBytes}-byte limit for ${what}`);
  try {
    const v = JSON.parse(readFileSync(path, 'utf8')) as unknown;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not a JSON object');
    return v as Json;
  } catch (e) {
    throw new GgufExportError(`${path} is not valid JSON (${(e as Error).message})`);
  }
}

/** The mapping itself, on parsed JSON (tests call it directly). */
export function vocabFromTokenizerJson(tok: Json, config: Json, modelVocabSize: number, source = 'tokenizer.json'): GgufVocab {
  const model = (tok.model ?? {}) as Json;
  const unsupported = (why: string) =>
    new GgufExportError(
      `${source}: ${why}. The GGUF export maps LLaMA-1/2 style tokenizers (BPE with byte fallback over "▁" words); convert this model with llama.cpp's convert_hf_to_gguf.py instead`,
    );
  if (model.type !== 'BPE') throw unsupported(`tokenizer model type ${JSON.stringify(model.type)} is not BPE`);
  if (model.byte_fallback !== true) throw unsupported('BPE without byte_fallback is byte-level BPE (GPT-2 / Llama 3 style), not mapped yet');
  const addSpacePrefix = spacePrefix(tok, unsupported);

  const vocab = model.vocab as Record<string, number> | undefined;
  if (!vocab || typeof vocab !== 'object') throw unsupported('model.vocab is missing');
  const byId: string[] = [];
  for (const [piece, id] of Object.entries(vocab)) {
    if (!Number.isInteger(id) || id < 0 || id > INPUT_LIMITS.vocab) throw new GgufExportError(`${source}: token ${JSON.stringify(piece)} has id ${String(id)}`);
    if (byId[id] !== undefined) throw new GgufExportError(`${source}: id ${id} is given to two tokens`);
    byId[id] = piece;
  }
  const added = Array.isArray(tok.added_tokens) ? (tok.added_tokens as Json[]) : [];
  const special = new Set<number>();
  const addedIds = new Set<number>();
  for (const a of added) {
    const id = a.id;
    const content = a.content;
    if (!Number.isInteger(id) || typeof content !== 'string') throw new GgufExportError(`${source}: added token ${JSON.stringify(a)} needs an integer id and a string content`);
    if (byId[id as number] !== undefined && byId[id as number] !== content) throw new GgufExportError(`${source}: added token ${JSON.stringify(content)} reuses id ${String(id)} of ${JSON.stringify(byId[id as number])}`);
    byId[id as number] = content;
    addedIds.add(id as number);
    if (a.special === true) special.add(id as number);
  }
  for (let i = 0; i < byId.length; i++) if (byId[i] === undefined) throw new GgufExportError(`${source}: no token has id ${i} (ids must be contiguous)`);
  // llama.cpp falls back to <0xXX> for any byte without a token and aborts the process when one is missing
  const missingByte = Array.from({ length: 256 }, (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`).find((t) => vocab[t] === undefined);
  if (missingByte) throw unsupported(`byte_fallback is set but the byte token ${missingByte} is missing (llama.cpp needs all 256)`);
  if (byId.length > modelVocabSize) {
    throw new GgufExportError(`${source} has ${byId.length} tokens but the model's embedding has ${modelVocabSize} rows: the tokenizer is not this model's`);
  }

  // merge ranks -> scores: the piece made by merge r scores -r, so the earliest merge wins in llama.cpp
  const rank = new Map<string, number>();
  const merges = Array.isArray(model.merges) ? (model.merges as unknown[]) : [];
  merges.forEach((m, r) => {
    const pair = Array.isArray(m) ? m : typeof m === 'string' ? m.split(' ') : [];
    if (pair.length !== 2 || typeof pair[0] !== 'string' || typeof pair[1] !== 'string') throw new GgufExportError(`${source}: merge #${r} is ${JSON.stringify(m)}, expected two pieces`);
    const piece = pair[0] + pair[1];
    if (!rank.has(piece)) rank.set(piece, r);
  });

  const unkToken = typeof model.unk_token === 'string' ? model.unk_token : undefined;
  const tokens: string[] = [];
  const scores: number[] = [];
  const types: number[] = [];
  for (let id = 0; id < modelVocabSize; id++) {
    const piece = byId[id];
    if (piece === undefined) {
      // the embedding has more rows than the tokenizer has tokens (vocab padded for speed): unused slots
      tokens.push(`[PAD${id}]`);
      scores.push(-1e4);
      types.push(TokenType.UNUSED);
      continue;
    }
    tokens.push(piece);
    const r = rank.get(piece);
    // a piece no merge makes (characters, bytes, specials) ranks below every merge: BPE never builds it
    scores.push(r === undefined ? -(merges.length + 1) : -(r + 1));
    if (piece === unkToken) types.push(TokenType.UNKNOWN);
    else if (special.has(id)) types.push(TokenType.CONTROL);
    else if (addedIds.has(id) && vocab[piece] === undefined) types.push(TokenType.USER_DEFINED);
    else if (/^<0x[0-9A-Fa-f]{2}>$/.test(piece)) types.push(TokenType.BYTE);
    else types.push(TokenType.NORMAL);
  }

  const idOf = (name: unknown): number | undefined => {
    const content = typeof name === 'string' ? name : typeof name === 'object' && name !== null ? (name as Json).content : undefined;
    if (typeof content !== 'string') return undefined;
    const id = tokens.indexOf(content);
    return id >= 0 ? id : undefined;
  };
  const bos = idOf(config.bos_token) ?? idOf('<s>');
  const eos = idOf(config.eos_token) ?? idOf('</s>');
  const unk = unkToken !== undefined ? idOf(unkToken) : undefined;
  const pad = idOf(config.pad_token);
  const addBos = typeof config.add_bos_token === 'boolean' ? config.add_bos_token : postProcessorAddsBos(tok, bos !== undefined ? tokens[bos] : undefined);
  const addEos = config.add_eos_token === true;

  const metadata: Array<readonly [string, ReturnType<typeof str>]> = [
    ['tokenizer.ggml.model', str('llama')],
    ['tokenizer.ggml.tokens', strs(tokens)],
    ['tokenizer.ggml.scores', f32s(scores)],
    ['tokenizer.ggml.token_type', i32s(types)],
    ['tokenizer.ggml.add_space_prefix', bool(addSpacePrefix)],
    ['tokenizer.ggml.add_bos_token', bool(addBos)],
    ['tokenizer.ggml.add_eos_token', bool(addEos)],
  ];
  if (bos !== undefined) metadata.push(['tokenizer.ggml.bos_token_id', u32(bos)]);
  if (eos !== undefined) metadata.push(['tokenizer.ggml.eos_token_id', u32(eos)]);
  if (unk !== undefined) metadata.push(['tokenizer.ggml.unknown_token_id', u32(unk)]);
  if (pad !== undefined) metadata.push(['tokenizer.ggml.padding_token_id', u32(pad)]);
  if (typeof config.chat_template === 'string') metadata.push(['tokenizer.chat_template', str(config.chat_template)]);
  const padded = modelVocabSize - byId.length;
  return {
    metadata,
    size: modelVocabSize,
    description: `llama (SentencePiece-style BPE, byte fallback), ${byId.length} tokens${padded ? ` + ${padded} unused` : ''}, ${merges.length} merges as scores`,
  };
}

/**
 * Whether words are "▁"-marked and the text gets a leading "▁" (llama.cpp's add_space_prefix), from the
 * pre-tokenizer (Metaspace) or the normalizer (Prepend + Replace); anything else is not SentencePiece-like.
 */
function spacePrefix(tok: Json, unsupported: (why: string) => Error): boolean {
  const pre = tok.pre_tokenizer as Json | null | undefined;
  const norm = tok.normalizer as Json | null | undefined;
  if (pre && pre.type === 'Metaspace') {
    if (pre.replacement !== '▁') throw unsupported(`Metaspace replacement ${JSON.stringify(pre.replacement)} is not "▁"`);
    if (norm) throw unsupported(`a normalizer (${String(norm.type)}) besides the Metaspace pre-tokenizer`);
    const scheme = pre.prepend_scheme ?? (pre.add_prefix_space === false ? 'never' : 'always');
    if (scheme === 'never') return false;
    if (scheme === 'first' || scheme === 'always') return true;
    throw unsupported(`Metaspace prepend_scheme ${JSON.stringify(scheme)}`);
  }
  if (pre) throw unsupported(`pre-tokenizer ${JSON.stringify(pre.type)}`);
  // LLaMA-2's tokenizer.json: normalizer Sequence[Prepend("▁")?, Replace(" " -> "▁")], no pre-tokenizer
  const steps = norm?.type === 'Sequence' ? ((norm.normalizers as Json[] | undefined) ?? []) : norm ? [norm] : [];
  const replace = steps.find((s) => s.type === 'Replace');
  const replacesSpaces = replace !== undefined && (replace.pattern as Json | undefined)?.String === ' ' && replace.content === '▁';
  const prepend = steps.some((s) => s.type === 'Prepend' && s.prepend === '▁');
  if (!replacesSpaces || steps.some((s) => s.type !== 'Replace' && s.type !== 'Prepend')) {
    throw unsupported(`normalizer ${JSON.stringify(norm?.type ?? null)} does not mark words with "▁"`);
  }
  return prepend;
}

function postProcessorAddsBos(tok: Json, bosPiece: string | undefined): boolean {
  const pp = tok.post_processor as Json | null | undefined;
  if (!pp || pp.type !== 'TemplateProcessing' || bosPiece === undefined) return false;
  const first = (pp.single as Json[] | undefined)?.[0];
  return ((first?.SpecialToken as Json | undefined)?.id ?? undefined) === bosPiece;
}
