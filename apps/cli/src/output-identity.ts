/**
 * Output = input is data loss (a prune into the model's own folder replaces the dense model, `plan
 * s.json -o s.json` overwrites its input): commands call `assertOutputsDoNotReplaceInputs` with their
 * inputs before any long step. Files are compared by device + inode, so symlinks, `..` detours and
 * hard links to one file are all caught.
 */
import { readdirSync, statSync, type Stats } from 'node:fs';
import { basename, join } from 'node:path';
import { CliError, ExitCode } from './errors.js';

/** The files a command may commit into an output folder (OutputSet names). */
export const OUTPUT_FOLDER_NAMES = [
  'model.onnx',
  'model.onnx.data',
  'model.onnx.pruning.json',
  'config.json',
  'plan.json',
  'results.json',
  'report.html',
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
];

export interface OutputsAndInputs {
  /** input files or folders (a folder stands for the files directly in it); undefined entries are skipped */
  inputs: Array<string | undefined>;
  /** a single output file */
  outputFile?: string;
  /** an output folder, and the file names a commit may write there (default OUTPUT_FOLDER_NAMES) */
  outputDir?: string;
  names?: string[];
}

/** Throws exit 4 naming both paths when an output would overwrite or replace one of the inputs. */
export function assertOutputsDoNotReplaceInputs(o: OutputsAndInputs): void {
  const inputs = new Map<string, string>(); // dev:ino -> input path
  const addFile = (p: string, st: Stats) => {
    if (st.isFile()) inputs.set(`${st.dev}:${st.ino}`, p);
  };
  for (const input of o.inputs) {
    if (!input) continue;
    const st = statSync(input, { throwIfNoEntry: false });
    if (!st) continue;
    if (st.isDirectory()) {
      for (const name of safeList(input)) {
        const p = join(input, name);
        const s = statSync(p, { throwIfNoEntry: false });
        if (s) addFile(p, s);
      }
      continue;
    }
    addFile(input, st);
    // a model's external data sits beside it under these names
    for (const data of [`${input}.data`, `${input}_data`]) {
      const s = statSync(data, { throwIfNoEntry: false });
      if (s) addFile(data, s);
    }
  }
  const clash = (p: string) => {
    const st = statSync(p, { throwIfNoEntry: false });
    return st?.isFile() ? inputs.get(`${st.dev}:${st.ino}`) : undefined;
  };
  if (o.outputFile) {
    const input = clash(o.outputFile);
    if (input) {
      throw new CliError(`-o ${o.outputFile} is the input ${input}: writing it would destroy the input; choose another output path`, ExitCode.output);
    }
  }
  if (o.outputDir) {
    for (const name of o.names ?? OUTPUT_FOLDER_NAMES) {
      const input = clash(join(o.outputDir, name));
      if (input) {
        throw new CliError(
          `-o ${o.outputDir} holds the input ${input}, which this run's ${basename(name)} would replace: write to another folder with -o`,
          ExitCode.output,
        );
      }
    }
  }
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
