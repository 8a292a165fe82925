import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { INPUT_LIMITS } from '@llm-bip/onnx-io';
import { TokenizerError } from './errors.js';

export interface EncodeOptions {
  /** Prepend BOS; default: tokenizer_config.json's add_bos_token. */
  addBos?: boolean;
  /** Append EOS; default: tokenizer_config.json's add_eos_token. */
  addEos?: boolean;
}

/** An HF tokenizer with BOS/EOS handled as the model's tokenizer_config.json says. */
export interface EvalTokenizer {
  encode(text: string, options?: EncodeOptions): number[];
  decode(ids: readonly number[]): string;
  readonly bosId: number | undefined;
  readonly eosId: number | undefined;
  readonly addBos: boolean;
  readonly addEos: boolean;
  /** sha256 of tokenizer.json and the BOS/EOS settings: the key of cached token ids. */
  readonly hash: string;
  readonly path: string;
}

/** A tokenizer side file as text, refusing folders and files past the size limit before reading. */
function readJsonText(path: string): string {
  const st = statSync(path);
  if (!st.isFile()) throw new TokenizerError(`${path} is not a file: give the folder holding tokenizer.json, or the file itself`);
  if (st.size > INPUT_LIMITS.jsonFileBytes) {
    throw new TokenizerError(`${path} is ${st.size} bytes, over the limit of ${INPUT_LIMITS.jsonFileBytes} for a tokenizer file: it is not a tokenizer (pass the model's own)`);
  }
  return readFileSync(path, 'utf8');
}

function parseObject(text: string, path: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new TokenizerError(`${path} is not valid JSON (${(e as Error).message}): re-download the model's tokenizer files`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new TokenizerError(`${path} holds ${JSON.stringify(v)?.slice(0, 20)}, not a JSON object: re-download the model's tokenizer files`);
  return v as Record<string, unknown>;
}

type TokenValue = string | { content?: string } | null | undefined;
const tokenText = (t: TokenValue): string | undefined => (typeof t === 'string' ? t : (t?.content ?? undefined));

/**
 * Load a tokenizer from a model folder (tokenizer.json + tokenizer_config.json) or a tokenizer.json path.
 * BOS/EOS come from tokenizer_config.json's add_bos_token / add_eos_token (LLaMA: BOS yes, EOS no);
 * without that file, from the tokenizer.json post-processor.
 */
export function loadTokenizer(pathOrDir: string): EvalTokenizer {
  const isDir = existsSync(pathOrDir) && statSync(pathOrDir).isDirectory();
  const jsonPath = isDir ? join(pathOrDir, 'tokenizer.json') : pathOrDir;
  const dir = isDir ? pathOrDir : join(pathOrDir, '..');
  if (!existsSync(jsonPath)) {
    throw new TokenizerError(`tokenizer.json not found at ${jsonPath} (pass the HF model folder or the tokenizer.json path)`);
  }
  const raw = readJsonText(jsonPath);
  const json = parseObject(raw, jsonPath);
  if (typeof json.model !== 'object' || json.model === null) {
    throw new TokenizerError(`${jsonPath} has no "model" section: it is not a Hugging Face tokenizer.json (pass the model's own tokenizer.json)`);
  }
  const added = json.added_tokens;
  if (added !== undefined && (!Array.isArray(added) || !added.every((t) => typeof t === 'object' && t !== null && Number.isSafeInteger(t.id) && t.id >= 0 && typeof t.content === 'string'))) {
    throw new TokenizerError(`${jsonPath}: "added_tokens" must be a list of {id: non-negative integer, content: string}; the file is damaged (re-download it)`);
  }
  const configPath = join(dir, 'tokenizer_config.json');
  const config = existsSync(configPath) ? parseObject(readJsonText(configPath), configPath) : undefined;
  let tok: Tokenizer;
  try {
    tok = new Tokenizer(json, config ?? {});
  } catch (e) {
    throw new TokenizerError(`${jsonPath} (with ${configPath}) cannot be loaded as a tokenizer (${(e as Error).message}): pass the model's own tokenizer files`);
  }

  const bosText = tokenText(config?.bos_token as TokenValue);
  const eosText = tokenText(config?.eos_token as TokenValue);
  const bosId = bosText !== undefined ? tok.token_to_id(bosText) : undefined;
  const eosId = eosText !== undefined ? tok.token_to_id(eosText) : undefined;
  // without tokenizer_config.json the post-processor decides (add_special_tokens: true)
  const byConfig = config !== undefined && ('add_bos_token' in config || 'add_eos_token' in config);
  // otherwise the tokenizer.json post-processor decides (Llama-3.1: TemplateProcessing adds <|begin_of_text|>;
  // Llama-3.0 as packaged by @lenml: ByteLevel only, no BOS): read what it adds off one encoding
  const postAdds = byConfig ? undefined : specialsAdded(tok);
  const addBos = byConfig ? config.add_bos_token === true : bosId !== undefined && postAdds!.first === bosId;
  const addEos = byConfig ? config.add_eos_token === true : eosId !== undefined && postAdds!.last === eosId;
  if (addBos && bosId === undefined) throw new TokenizerError(`${configPath}: add_bos_token is true but bos_token is not in the vocabulary`);
  if (addEos && eosId === undefined) throw new TokenizerError(`${configPath}: add_eos_token is true but eos_token is not in the vocabulary`);

  // a malformed entry the tokenizer library accepted at load may only fail when text is encoded
  const damaged = <T>(f: () => T): T => {
    try {
      return f();
    } catch (e) {
      if (e instanceof TokenizerError) throw e;
      throw new TokenizerError(`${jsonPath} failed while tokenizing (${(e as Error).message}): the tokenizer files are damaged; re-download them`);
    }
  };
  const hash = createHash('sha256')
    .update(raw)
    .update(JSON.stringify({ addBos, addEos, bosId, eosId, byConfig }))
    .digest('hex');

  return {
    path: jsonPath,
    bosId,
    eosId,
    addBos,
    addEos,
    hash,
    encode(text, options = {}) {
      if (!byConfig && options.addBos === undefined && options.addEos === undefined) {
        return damaged(() => tok.encode(text, { add_special_tokens: true }).ids);
      }
      const ids = damaged(() => tok.encode(text, { add_special_tokens: false }).ids);
      const wantBos = options.addBos ?? addBos;
      const wantEos = options.addEos ?? addEos;
      if (wantBos) {
        if (bosId === undefined) throw new TokenizerError(`BOS requested but the tokenizer at ${jsonPath} has no bos_token`);
        ids.unshift(bosId);
      }
      if (wantEos) {
        if (eosId === undefined) throw new TokenizerError(`EOS requested but the tokenizer at ${jsonPath} has no eos_token`);
        ids.push(eosId);
      }
      return ids;
    },
    decode: (ids) => damaged(() => tok.decode([...ids])),
  };
}

/** The ids the post-processor puts before and after a text (add_special_tokens: true vs false), if any. */
function specialsAdded(tok: Tokenizer): { first?: number; last?: number } {
  try {
    const plain: number[] = Array.from(tok.encode('a', { add_special_tokens: false }).ids);
    const full: number[] = Array.from(tok.encode('a', { add_special_tokens: true }).ids);
    const at = full.findIndex((_: number, i: number) => plain.every((id: number, j: number) => full[i + j] === id));
    if (at < 0) return {};
    return { ...(at > 0 ? { first: full[0]! } : {}), ...(at + plain.length < full.length ? { last: full[full.length - 1]! } : {}) };
  } catch {
    return {};
  }
}
