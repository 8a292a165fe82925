/**
 * Where a derived model (the original graph plus extra nodes, e.g. a statistics probe or a scoring
 * head) lives while ONNX Runtime loads it. It is a new .onnx file that must still find the original
 * weights, and ORT only reads external data from inside the .onnx file's own folder (it resolves
 * symbolic links and refuses ones that point outside). So:
 * - a self-contained model's derived file goes to a temp folder;
 * - a model with external data gets its derived file beside it, under a hidden temp name;
 * - where that folder is not writable, a temp folder with hard links to the data files (no copy;
 *   needs the same filesystem).
 * `cleanup` removes whatever was made.
 */
import { link, mkdir, mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { encodeModel } from './proto/codec.js';
import type { ModelProto } from './proto/types.js';
import { collectTensors } from './external-data/tensor-slots.js';
import { externalDataRef, isExternal, resolveExternalLocation } from './external-data/location.js';

export class DerivedModelFileError extends Error {
  override name = 'DerivedModelFileError';
  readonly category = 'input';
}

export type DerivedModelPlacement = 'temp' | 'beside' | 'linked';

export interface DerivedModelFile {
  path: string;
  /** 'temp' (self-contained model), 'beside' (in the model's folder), 'linked' (temp folder + hard links to the data files) */
  placement: DerivedModelPlacement;
  cleanup(): Promise<void>;
}

export interface DerivedModelFileOptions {
  /**
   * Hidden file-name prefix for the file placed beside the model, e.g. '.llm-bip-probe-'; temp folders
   * are named after it without the leading dot. Tells leftovers of different tools apart.
   */
  prefix: string;
  /** Force one placement for models with external data (tests); default: beside, else linked. */
  placement?: 'beside' | 'linked';
  /** What the file is, for error messages (default 'derived model'). */
  label?: string;
  /** File name inside a temp folder (default 'model.onnx'). */
  fileName?: string;
}

export async function writeDerivedModelFile(model: ModelProto, modelDir: string, opts: DerivedModelFileOptions): Promise<DerivedModelFile> {
  const bytes = encodeModel(model);
  const label = opts.label ?? 'derived model';
  const fileName = opts.fileName ?? 'model.onnx';
  const tempPrefix = join(tmpdir(), opts.prefix.replace(/^\.+/, ''));
  const locations = new Set<string>();
  for (const s of collectTensors(model)) if (isExternal(s.tensor)) locations.add(externalDataRef(s.tensor).location);

  if (locations.size === 0) {
    const dir = await mkdtemp(tempPrefix);
    const path = join(dir, fileName);
    try {
      await writeFile(path, bytes);
    } catch (e) {
      await rm(dir, { recursive: true, force: true });
      throw e;
    }
    return { path, placement: 'temp', cleanup: () => rm(dir, { recursive: true, force: true }) };
  }

  let besideError: NodeJS.ErrnoException | undefined;
  if (opts.placement !== 'linked') {
    const path = join(modelDir, `${opts.prefix}${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}.onnx`);
    try {
      await writeFile(path, bytes);
      return { path, placement: 'beside', cleanup: () => unlink(path).catch(() => undefined) };
    } catch (e) {
      besideError = e as NodeJS.ErrnoException;
      await unlink(path).catch(() => undefined);
      if (opts.placement === 'beside') throw placementError(label, modelDir, besideError);
    }
  }

  const dir = await mkdtemp(tempPrefix);
  const cleanup = () => rm(dir, { recursive: true, force: true });
  try {
    for (const loc of locations) {
      const target = join(dir, loc);
      await mkdir(dirname(target), { recursive: true });
      await link(resolveExternalLocation(modelDir, loc), target);
    }
    const path = join(dir, fileName);
    await writeFile(path, bytes);
    return { path, placement: 'linked', cleanup };
  } catch (e) {
    await cleanup();
    throw placementError(label, modelDir, besideError ?? (e as NodeJS.ErrnoException), e as NodeJS.ErrnoException);
  }
}

function placementError(label: string, modelDir: string, beside: NodeJS.ErrnoException, linked?: NodeJS.ErrnoException): DerivedModelFileError {
  return new DerivedModelFileError(
    `cannot place the ${label}: its weights are external data, which ORT reads only from the model's own folder; ` +
      `writing into ${modelDir} failed (${beside.code ?? beside.message})` +
      (linked ? ` and hard-linking the data files into ${tmpdir()} failed (${linked.code ?? linked.message})` : '') +
      '. Copy the model into a writable folder (or set TMPDIR to a folder on the same filesystem).',
  );
}
