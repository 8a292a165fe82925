/**
 * What the commands share around the @llm-bip/pipeline steps: the command context as pipeline hooks,
 * and one load of the model (decode, recognise, fingerprint) and of its tokenizer per command run.
 */
import { loadTokenizer, type EvalTokenizer } from '@llm-bip/eval';
import { modelFingerprint } from '@llm-bip/model';
import { loadModelInput, type ModelInput, type PipelineHooks } from '@llm-bip/pipeline';
import type { CommandContext } from '../command.js';
import { evalProgress } from './eval-progress.js';
import { checkTokenizerMatchesModel } from './tokenizer-check.js';

/** The command context as pipeline hooks (log, warnings, progress bars, Ctrl-C). */
export function hooksFor(ctx: CommandContext): PipelineHooks {
  return {
    log: (line) => ctx.log(line),
    warn: (line) => ctx.warn(line),
    progress: (opts) => ctx.progress(opts),
    evalProgress: (label) => evalProgress(ctx, label),
    signal: ctx.signal,
  };
}

/** Load and recognise once; fingerprint once on demand. */
export interface LoadedInput extends ModelInput {
  fingerprint(): Promise<string>;
}

export async function loadInput(onnxPath: string): Promise<LoadedInput> {
  const m = await loadModelInput(onnxPath);
  let fp: Promise<string> | undefined;
  return { ...m, fingerprint: () => (fp ??= modelFingerprint(m.loaded.path, m.loaded.model, m.loaded.dir)) };
}

/** The model's tokenizer, parsed once, after checking that its ids fit the model's vocabulary. */
export function tokenizerFor(tokenizerPath: string, vocabSize: number | undefined, modelName: string): EvalTokenizer {
  checkTokenizerMatchesModel(tokenizerPath, vocabSize, modelName);
  return loadTokenizer(tokenizerPath);
}
