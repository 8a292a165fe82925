/** Load an ONNX model and recognise its block map: the first step of inspect, score, plan, prune. */
import { loadModel, type LoadedModel } from '@llm-bip/onnx-io';
import { recogniseModel, type ModelSpec } from '@llm-bip/model';

export async function loadWithSpec(onnxPath: string): Promise<{ loaded: LoadedModel; spec: ModelSpec }> {
  const loaded = await loadModel(onnxPath);
  const spec = recogniseModel(loaded.model, { modelDir: loaded.dir, source: loaded.path });
  return { loaded, spec };
}
