/**
 * MODEL arguments: an ONNX file (tokenizer.json expected beside it, or --tokenizer) or a Hugging
 * Face checkpoint folder, exported on the fly into the user cache (keyed by the checkpoint's
 * content, so the next command on the same folder reuses it). Also where the shared data lives.
 */
import { existsSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dataRoots, userCacheDir, type DataRoot } from '@llm-bip/eval';
import { exportCached } from '@llm-bip/pipeline';
import type { CommandContext } from '../command.js';
import { CliError, ExitCode } from '../errors.js';

export interface ModelInput {
  /** the ONNX file to run */
  onnxPath: string;
  /** tokenizer.json or the folder holding it */
  tokenizer: string;
  /** the HF folder it was exported from, when MODEL was one */
  exportedFrom?: string;
  /** release what resolving made (nothing today: exports stay in the cache) */
  dispose(): void;
}

export function isHfCheckpoint(path: string): boolean {
  return existsSync(path) && statSync(path).isDirectory() && existsSync(join(path, 'config.json'));
}

export async function resolveModelInput(model: string, ctx: CommandContext, opts: { tokenizer?: string; kvCache?: boolean } = {}): Promise<ModelInput> {
  if (!existsSync(model)) throw new CliError(`model ${model} does not exist: give an ONNX file or an HF checkpoint folder`, ExitCode.input);
  if (isHfCheckpoint(model)) {
    const { onnxPath } = await exportCached(model, cacheDir(ctx.env), { dtype: 'float32', kvCache: opts.kvCache ?? true }, ctx);
    return { onnxPath, tokenizer: opts.tokenizer ?? model, exportedFrom: model, dispose: () => {} };
  }
  if (statSync(model).isDirectory()) {
    const inside = join(model, 'model.onnx');
    if (!existsSync(inside)) {
      throw new CliError(`${model} is a folder with neither config.json (an HF checkpoint) nor model.onnx: pass the .onnx file or the checkpoint folder`, ExitCode.input);
    }
    return resolveModelInput(inside, ctx, opts);
  }
  const tokenizer = opts.tokenizer ?? dirname(resolve(model));
  return { onnxPath: model, tokenizer, dispose: () => {} };
}

/** The development copy of the datasets: ../shared/data beside the checkout (the last place searched). */
export function devDataDir(): string {
  // this file is apps/cli/{src,dist}/commands/model-input.*: five levels up is the checkout's parent
  return resolve(dirname(fileURLToPath(import.meta.url)), '../../../../../shared/data');
}

/** Where datasets are searched, in order: --data, $LLM_BIP_DATA, the `llm-bip data fetch` cache, the development copy. */
export function dataDir(option: string | undefined, env: NodeJS.ProcessEnv = process.env): DataRoot[] {
  return dataRoots({ option, env, devDir: devDataDir() });
}

/** Where tokenized datasets, HF exports and fetched datasets are cached between runs. */
export function cacheDir(env: NodeJS.ProcessEnv): string {
  return userCacheDir(env);
}
