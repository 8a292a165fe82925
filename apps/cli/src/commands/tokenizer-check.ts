/**
 * A tokenizer that does not belong to the model gives ids past the end of its embedding table
 * (ORT then fails with an opaque Gather error) or silently wrong numbers. Check the largest id the
 * tokenizer can produce against the model's vocabulary before running anything.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CliError, ExitCode } from '../errors.js';

export class TokenizerMismatchError extends CliError {
  override name = 'TokenizerMismatchError';
  constructor(message: string) {
    super(message, ExitCode.input);
  }
}

/** Largest token id in tokenizer.json (model vocabulary and added tokens), or undefined if unreadable. */
export function tokenizerMaxId(tokenizer: string): number | undefined {
  const file = existsSync(tokenizer) && statSync(tokenizer).isDirectory() ? join(tokenizer, 'tokenizer.json') : tokenizer;
  if (!existsSync(file)) return undefined;
  let json: { model?: { vocab?: unknown }; added_tokens?: Array<{ id?: unknown }> };
  try {
    json = JSON.parse(readFileSync(file, 'utf8')) as typeof json;
  } catch {
    return undefined; // the tokenizer loader reports unreadable files with its own message
  }
  if (typeof json !== 'object' || json === null) return undefined; // likewise a file that is not an object
  let max = -1;
  const vocab = json.model?.vocab;
  if (Array.isArray(vocab)) max = vocab.length - 1;
  else if (vocab && typeof vocab === 'object') for (const id of Object.values(vocab)) if (typeof id === 'number' && id > max) max = id;
  for (const t of Array.isArray(json.added_tokens) ? json.added_tokens : []) if (typeof t?.id === 'number' && t.id > max) max = t.id;
  return max >= 0 ? max : undefined;
}

export function checkTokenizerMatchesModel(tokenizer: string, modelVocab: number | undefined, model: string): void {
  if (modelVocab === undefined || !(modelVocab > 0)) return;
  const max = tokenizerMaxId(tokenizer);
  if (max !== undefined && max >= modelVocab) {
    throw new TokenizerMismatchError(
      `the tokenizer at ${tokenizer} has token ids up to ${max}, but ${model} has a vocabulary of ${modelVocab}: it is not this model's tokenizer. Pass the model's own tokenizer.json with --tokenizer`,
    );
  }
}
