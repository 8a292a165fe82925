/** Load and recognise a model once: the first step of every command, whose result every later step takes. */
import { loadModel } from '@llm-bip/onnx-io';
import { recogniseModel } from '@llm-bip/model';
import type { ModelInput } from './score.js';

export async function loadModelInput(onnxPath: string): Promise<ModelInput> {
  const loaded = await loadModel(onnxPath);
  const spec = recogniseModel(loaded.model, { modelDir: loaded.dir, source: loaded.path });
  return { loaded, spec };
}
