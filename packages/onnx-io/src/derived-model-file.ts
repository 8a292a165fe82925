/**
 * Where a derived model (the original graph plus extra nodes, e.g. a statistics probe or a scoring
 * head) lives while ONNX Runtime loads it. Never in the input model's folder (a killed run would leave
 * it there, and a read-only model folder could not be scored):
 * - a model with external data stays in memory: ORT loads the bytes and reads the original weights
 *   from the model's folder (session config `session.model_external_initializers_file_folder_path`;
 *   the runtime's createSession takes `{ path, bytes, externalDataDir }`);
 * - a self-contained model (weights inline, possibly large) goes to a private temp folder named with
 *   the pid; folders of dead runs are removed the next time one is made.
 * `cleanup` removes whatever was made.
 */
import { readdirSync, rmSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeModel } from './proto/codec.js';
import type { ModelProto } from './proto/types.js';
import { collectTensors } from './external-data/tensor-slots.js';
import { isExternal } from './external-data/location.js';
import { categorisedError } from './errors.js';

export class DerivedModelFileError extends categorisedError('DerivedModelFileError', 'input') {}

export type DerivedModelPlacement = 'temp' | 'memory';

export interface DerivedModelFile {
  /**
   * 'temp': the file at `path`. 'memory': no file; `path` names it inside the original folder (where
   * the runtime looks for config files beside a model) for messages only.
   */
  path: string;
  placement: DerivedModelPlacement;
  /** the encoded model ('memory' placement): pass the whole object to the runtime's createSession */
  bytes?: Uint8Array;
  /** the folder its external data locations are relative to ('memory' placement) */
  externalDataDir?: string;
  cleanup(): Promise<void>;
}

export interface DerivedModelFileOptions {
  /** Name prefix of temp folders, e.g. '.llm-bip-probe-' (a leading dot is dropped): tells tools' leftovers apart. */
  prefix: string;
  /** What the file is, for error messages (default 'derived model'). */
  label?: string;
  /** File name (default 'model.onnx'). */
  fileName?: string;
}

export async function writeDerivedModelFile(model: ModelProto, modelDir: string, opts: DerivedModelFileOptions): Promise<DerivedModelFile> {
  const bytes = encodeModel(model);
  const fileName = opts.fileName ?? 'model.onnx';
  if (collectTensors(model).some((s) => isExternal(s.tensor))) {
    return { path: join(modelDir, `(in memory) ${fileName}`), placement: 'memory', bytes, externalDataDir: modelDir, cleanup: async () => {} };
  }
  const prefix = opts.prefix.replace(/^\.+/, '');
  removeDeadRunFolders(prefix);
  let dir: string;
  try {
    dir = await mkdtemp(join(tmpdir(), `${prefix}${process.pid}-`));
  } catch (e) {
    throw placementError(opts.label ?? 'derived model', e as NodeJS.ErrnoException);
  }
  const path = join(dir, fileName);
  try {
    await writeFile(path, bytes);
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw placementError(opts.label ?? 'derived model', e as NodeJS.ErrnoException);
  }
  return { path, placement: 'temp', cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Temp folders `<prefix><pid>-XXXXXX` whose process is gone (a killed run): removed. */
function removeDeadRunFolders(prefix: string): void {
  let names: string[];
  try {
    names = readdirSync(tmpdir());
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(/^(\d+)-/.exec(name.slice(prefix.length))?.[1]);
    if (!pid || pid === process.pid || alive(pid)) continue;
    rmSync(join(tmpdir(), name), { recursive: true, force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function placementError(label: string, e: NodeJS.ErrnoException): DerivedModelFileError {
  const size = e.code === 'ENOSPC' ? ': the temp folder is full' : '';
  return new DerivedModelFileError(
    `cannot write the ${label} into the temp folder ${tmpdir()} (${e.code ?? e.message})${size}. Set TMPDIR to a writable folder with space.`,
  );
}
