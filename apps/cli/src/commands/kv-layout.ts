/**
 * KV-cache geometry for the runtime when a graph leaves it symbolic (genai builder: "kv_cache_dim")
 * and no genai_config.json / config.json sits beside the model (a pruned model in its own folder).
 */
import type { ModelSpec, PruningPlan } from '@llm-bip/model';
import type { KvLayout } from '@llm-bip/runtime';
import { loadModelInput } from '@llm-bip/pipeline';

function uniform(values: number[]): number | undefined {
  return values.length && values.every((v) => v === values[0]) ? values[0] : undefined;
}

/**
 * Every layer's KV head count and head_dim (after `plan` when given), and the single numbers when all
 * layers agree.
 */
export function kvLayoutOf(spec: ModelSpec, plan?: PruningPlan): KvLayout {
  const layers = spec.layers.map((l) => ({ numKvHeads: plan ? plan.layers[l.index]!.keepKvHeads.length : l.numKvHeads, headDim: l.headDim }));
  const headDim = uniform(layers.map((l) => l.headDim));
  const kvHeads = uniform(layers.map((l) => l.numKvHeads));
  return { ...(headDim !== undefined ? { headDim } : {}), ...(kvHeads !== undefined ? { numKvHeads: kvHeads } : {}), layers };
}

/** The layout of a model file, or undefined when it is not recognised (the runtime then needs none or says why). */
export async function kvLayoutOfFile(onnxPath: string): Promise<KvLayout | undefined> {
  try {
    return kvLayoutOf((await loadModelInput(onnxPath)).spec);
  } catch {
    return undefined;
  }
}
