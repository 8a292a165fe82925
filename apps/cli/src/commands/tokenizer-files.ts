/**
 * Copy the tokenizer next to a pruned model, so `llm-bip eval OUT/model.onnx` finds it.
 *
 * The output folder is often shared, and the model folder may come from an untrusted archive: a
 * `tokenizer_config.json -> ~/.ssh/id_rsa` link would copy a secret into it. So only regular files
 * directly in the model folder are copied (links and other kinds are refused, opened with
 * O_NOFOLLOW so a link swapped in after the check is refused too), their size is capped, and the
 * copy never gets wider permissions than its source. One kind of link is expected and accepted: in a
 * Hugging Face hub cache, `<repo>/snapshots/<rev>/tokenizer.json` links to `<repo>/blobs/<hash>`; a link
 * of a snapshot folder that resolves to a regular file in its own repo's `blobs/` is followed.
 */
import { constants } from 'node:fs';
import { chmod, lstat, open, realpath, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { INPUT_LIMITS } from '@llm-bip/onnx-io';
import { CliError, ExitCode } from '../errors.js';
import type { OutputSet } from '../output.js';

const FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'];

/** A tokenizer file to copy: where it is (the file itself, links resolved) and the name it gets in the output. */
export interface TokenizerFile {
  source: string;
  name: string;
}

/** `<repo>/blobs` when `realDir` is a hub-cache snapshot folder `<repo>/snapshots/<rev>`, else undefined. */
function hubBlobsOf(realDir: string): string | undefined {
  const snapshots = dirname(realDir);
  return basename(snapshots) === 'snapshots' ? join(dirname(snapshots), 'blobs') : undefined;
}

const refuse = (path: string, why: string): CliError =>
  new CliError(
    `${path} ${why}: llm-bip copies only regular files from the model folder into the output (a link could copy a private file into a folder you share). Replace it with the file itself, or pass --tokenizer with a folder that holds the real files.`,
    ExitCode.input,
  );

/**
 * The tokenizer files `copyTokenizerFiles` would copy, checked: regular files (not links, folders,
 * devices) inside the model folder, within the size limit. Call it before a long step so a refused
 * file fails fast.
 */
export async function tokenizerFilesToCopy(tokenizer: string): Promise<TokenizerFile[]> {
  const isDir = (await stat(tokenizer).catch(() => undefined))?.isDirectory() ?? false;
  const dir = isDir ? tokenizer : dirname(tokenizer);
  const realDir = await realpath(dir);
  const files: TokenizerFile[] = [];
  for (const f of isDir ? FILES : [basename(tokenizer), ...FILES.slice(1)]) {
    const source = join(dir, f);
    const st = await lstat(source).catch(() => undefined);
    if (!st) continue;
    const real = await realpath(source);
    let size = st.size;
    if (st.isSymbolicLink()) {
      const blobs = hubBlobsOf(realDir);
      const target = await stat(real);
      if (!blobs || dirname(real) !== blobs || !target.isFile()) throw refuse(source, 'is a symbolic link');
      size = target.size;
    } else {
      if (!st.isFile()) throw refuse(source, 'is not a regular file');
      if (dirname(real) !== realDir) throw refuse(source, 'is not inside the model folder');
    }
    if (size > INPUT_LIMITS.jsonFileBytes) {
      throw new CliError(`${source} is ${size} bytes, over the limit of ${INPUT_LIMITS.jsonFileBytes} for a tokenizer file: it is not a tokenizer file`, ExitCode.input);
    }
    files.push({ source: real, name: f === basename(tokenizer) && !isDir ? 'tokenizer.json' : f });
  }
  return files;
}

export async function copyTokenizerFiles(tokenizer: string, out: OutputSet): Promise<string[]> {
  const copied: string[] = [];
  for (const { source, name } of await tokenizerFilesToCopy(tokenizer)) {
    // O_NOFOLLOW: a link put in place after the check above is refused by the kernel (ELOOP)
    const fh = await open(source, constants.O_RDONLY | constants.O_NOFOLLOW).catch((e: NodeJS.ErrnoException) => {
      throw e.code === 'ELOOP' ? refuse(source, 'is a symbolic link') : e;
    });
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw refuse(source, 'is not a regular file');
      if (st.size > INPUT_LIMITS.jsonFileBytes) throw new CliError(`${source} grew past ${INPUT_LIMITS.jsonFileBytes} bytes while being copied`, ExitCode.input);
      const data = await fh.readFile();
      // the copy belongs to the user (owner read/write), and is never more readable than its source
      const mode = (st.mode & 0o644) | 0o600;
      await writeFile(out.path(name), data, { mode });
      await chmod(out.path(name), mode);
    } finally {
      await fh.close();
    }
    copied.push(name);
  }
  return copied;
}
