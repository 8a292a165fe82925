/**
 * Where a probe model lives while ORT loads it. The probe is a new .onnx file that must find the
 * original weights, and ORT only reads external data from inside the .onnx file's own folder (it
 * resolves symbolic links and refuses ones that point outside). So:
 * - a self-contained model's probe goes to a temp folder;
 * - a model with external data gets its probe beside it, under a hidden temp name;
 * - where that folder is not writable, a temp folder with hard links to the data files (no copy;
 *   needs the same filesystem).
 * `cleanup` removes whatever was made.
 */
import { link, mkdir, mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { collectTensors, encodeModel, externalDataRef, isExternal, resolveExternalLocation, type ModelProto } from '@llm-bip/onnx-io';
import { ScoringError } from '../errors.js';

export interface ProbeFile {
  path: string;
  /** 'temp' (self-contained model), 'beside' (in the model's folder), 'linked' (temp folder + hard links to the data files) */
  placement: 'temp' | 'beside' | 'linked';
  cleanup(): Promise<void>;
}

export async function writeProbeFile(probe: ModelProto, modelDir: string, opts: { placement?: 'beside' | 'linked' } = {}): Promise<ProbeFile> {
  const bytes = encodeModel(probe);
  const locations = new Set<string>();
  for (const s of collectTensors(probe)) if (isExternal(s.tensor)) locations.add(externalDataRef(s.tensor).location);

  if (locations.size === 0) {
    const dir = await mkdtemp(join(tmpdir(), 'llm-bip-probe-'));
    const path = join(dir, 'probe.onnx');
    await writeFile(path, bytes);
    return { path, placement: 'temp', cleanup: () => rm(dir, { recursive: true, force: true }) };
  }

  let besideError: NodeJS.ErrnoException | undefined;
  if (opts.placement !== 'linked') {
    const path = join(modelDir, `.llm-bip-probe-${process.pid}-${Date.now()}.onnx`);
    try {
      await writeFile(path, bytes);
      return { path, placement: 'beside', cleanup: () => unlink(path).catch(() => undefined) };
    } catch (e) {
      besideError = e as NodeJS.ErrnoException;
      await unlink(path).catch(() => undefined);
      if (opts.placement === 'beside') throw probePlacementError(modelDir, besideError);
    }
  }

  const dir = await mkdtemp(join(tmpdir(), 'llm-bip-probe-'));
  const cleanup = () => rm(dir, { recursive: true, force: true });
  try {
    for (const loc of locations) {
      const target = join(dir, loc);
      await mkdir(dirname(target), { recursive: true });
      await link(resolveExternalLocation(modelDir, loc), target);
    }
    const path = join(dir, 'probe.onnx');
    await writeFile(path, bytes);
    return { path, placement: 'linked', cleanup };
  } catch (e) {
    await cleanup();
    throw probePlacementError(modelDir, besideError ?? (e as NodeJS.ErrnoException), e as NodeJS.ErrnoException);
  }
}

function probePlacementError(modelDir: string, beside: NodeJS.ErrnoException, linked?: NodeJS.ErrnoException): ScoringError {
  return new ScoringError(
    `cannot place the probe model: its weights are external data, which ORT reads only from the model's own folder; ` +
      `writing into ${modelDir} failed (${beside.code ?? beside.message})` +
      (linked ? ` and hard-linking the data files into ${tmpdir()} failed (${linked.code ?? linked.message})` : '') +
      '. Copy the model into a writable folder (or set TMPDIR to a folder on the same filesystem).',
  );
}
