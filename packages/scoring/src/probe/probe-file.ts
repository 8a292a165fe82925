/**
 * Where a probe model lives while ORT loads it: onnx-io's derived-model placement (in memory for a
 * model with external data, its weights read from the model's own folder; a temp folder for a
 * self-contained model; never the model's folder), with the probe's own names so leftovers are
 * recognisable, and scoring's error type.
 */
import { DerivedModelFileError, writeDerivedModelFile, type DerivedModelFile, type ModelProto } from '@llm-bip/onnx-io';
import { ScoringError } from '../errors.js';

export type ProbeFile = DerivedModelFile;

export async function writeProbeFile(probe: ModelProto, modelDir: string): Promise<ProbeFile> {
  try {
    return await writeDerivedModelFile(probe, modelDir, { prefix: '.llm-bip-probe-', label: 'probe model', fileName: 'probe.onnx' });
  } catch (e) {
    // callers of scoring catch ScoringError for every scoring failure
    if (e instanceof DerivedModelFileError) throw new ScoringError(e.message);
    throw e;
  }
}
