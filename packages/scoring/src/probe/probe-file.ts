/**
 * Where a probe model lives while ORT loads it: onnx-io's derived-model placement (temp folder for a
 * self-contained model, beside the model under a hidden name, or a temp folder with hard links to the
 * data files), with the probe's own file names so leftovers are recognisable, and scoring's error type.
 */
import { DerivedModelFileError, writeDerivedModelFile, type DerivedModelFile, type ModelProto } from '@llm-bip/onnx-io';
import { ScoringError } from '../errors.js';

export type ProbeFile = DerivedModelFile;

export async function writeProbeFile(probe: ModelProto, modelDir: string, opts: { placement?: 'beside' | 'linked' } = {}): Promise<ProbeFile> {
  try {
    return await writeDerivedModelFile(probe, modelDir, {
      prefix: '.llm-bip-probe-',
      label: 'probe model',
      fileName: 'probe.onnx',
      ...(opts.placement ? { placement: opts.placement } : {}),
    });
  } catch (e) {
    // callers of scoring catch ScoringError for every scoring failure
    if (e instanceof DerivedModelFileError) throw new ScoringError(e.message);
    throw e;
  }
}
