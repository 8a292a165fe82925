/** Copy the tokenizer next to a pruned model, so `llm-bip eval OUT/model.onnx` finds it. */
import { chmod, copyFile, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { OutputSet } from '../output.js';

const FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'];

export async function copyTokenizerFiles(tokenizer: string, out: OutputSet): Promise<string[]> {
  const isDir = (await stat(tokenizer).catch(() => undefined))?.isDirectory() ?? false;
  const dir = isDir ? tokenizer : dirname(tokenizer);
  const copied: string[] = [];
  for (const f of isDir ? FILES : [basename(tokenizer), ...FILES.slice(1)]) {
    const src = join(dir, f);
    if (!(await stat(src).catch(() => undefined))?.isFile()) continue;
    const name = f === basename(tokenizer) && !isDir ? 'tokenizer.json' : f;
    await copyFile(src, out.path(name));
    // the source may be read-only (a shared folder): the copy belongs to the user
    await chmod(out.path(name), 0o644);
    copied.push(name);
  }
  return copied;
}
