/**
 * Where a probe model lives while ORT loads it. A model with external data gets its probe written
 * beside it (a hidden temp name), so the data file's relative locations resolve and the weights are
 * not copied; a self-contained model gets a temp folder. Either is removed by `cleanup`.
 */
import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { collectTensors, encodeModel, isExternal, type ModelProto } from '@llm-bip/onnx-io';
import { ScoringError } from '../errors.js';

export interface ProbeFile {
  path: string;
  cleanup(): Promise<void>;
}

export async function writeProbeFile(probe: ModelProto, modelDir: string): Promise<ProbeFile> {
  const bytes = encodeModel(probe);
  if (collectTensors(probe).some((s) => isExternal(s.tensor))) {
    const path = join(modelDir, `.llm-bip-probe-${process.pid}-${Date.now()}.onnx`);
    try {
      await writeFile(path, bytes);
    } catch (e) {
      throw new ScoringError(
        `cannot write the probe model beside ${modelDir} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}): the model keeps its weights in external data, so its folder must be writable`,
      );
    }
    return { path, cleanup: () => unlink(path).catch(() => undefined) };
  }
  const dir = await mkdtemp(join(tmpdir(), 'llm-bip-probe-'));
  const path = join(dir, 'probe.onnx');
  await writeFile(path, bytes);
  return { path, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
