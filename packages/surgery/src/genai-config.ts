/**
 * onnxruntime-genai's genai_config.json for a pruned builder model. genai sizes the KV cache from
 * `model.decoder`: one shape, [batch, num_key_value_heads, max_length, head_size], for every one of
 * `num_hidden_layers` layers (src/models/kv_cache.cpp, DefaultKeyValueCache), and its config parser
 * rejects fields it does not know. So a genai_config.json can describe a pruned model only when every
 * layer kept the same number of KV heads (and query heads); otherwise none is written and the reason
 * is returned for the caller to report.
 */
import type { ModelSpec } from '@llm-bip/model';
import type { PruningRecord } from './provenance.js';

export type GenaiConfigOutcome = { config: Record<string, unknown> } | { reason: string };

/** The fix named in every refusal: a plan whose layers all keep the same head counts. */
export const GENAI_UNIFORM_FIX = 'for an onnxruntime-genai model, prune with a plan that keeps the same heads in every layer (`llm-bip plan --allocation uniform`)';

function describeCounts(counts: number[]): string {
  return counts.map((c, i) => `${i}: ${c}`).join(', ');
}

/** `filename`: the pruned model's file name, which genai opens (model.decoder.filename). */
export function prunedGenaiConfig(config: Record<string, unknown>, spec: ModelSpec, r: PruningRecord, filename: string): GenaiConfigOutcome {
  const model = config['model'] as Record<string, unknown> | undefined;
  const decoder = model?.['decoder'] as Record<string, unknown> | undefined;
  if (!model || !decoder || typeof decoder !== 'object') return { reason: 'the input genai_config.json has no model.decoder section' };
  const kvHeads = r.layers.map((l) => l.kvHeads[1]);
  const heads = r.layers.map((l) => l.heads[1]);
  const headDims = new Set(spec.layers.map((l) => l.headDim));
  const emptied = r.layers.filter((l) => l.kvHeads[1] === 0).map((l) => l.layer);
  if (emptied.length) {
    return { reason: `layer${emptied.length > 1 ? 's' : ''} ${emptied.join(', ')} lost all attention heads (no KV cache), but onnxruntime-genai gives every layer the same KV cache shape; ${GENAI_UNIFORM_FIX}` };
  }
  if (new Set(kvHeads).size > 1 || new Set(heads).size > 1) {
    return {
      reason: `the layers keep different numbers of KV heads (per layer: ${describeCounts(kvHeads)}), but onnxruntime-genai allocates one KV cache shape [batch, num_key_value_heads, max_length, head_size] for all layers; ${GENAI_UNIFORM_FIX}`,
    };
  }
  if (headDims.size !== 1) return { reason: `the layers have different head sizes (${[...headDims].join(', ')}); genai_config.json has one head_size` };
  return {
    config: {
      ...config,
      model: {
        ...model,
        vocab_size: spec.vocabSize,
        decoder: {
          ...decoder,
          filename,
          head_size: spec.layers[0]!.headDim,
          hidden_size: spec.hiddenSize,
          num_attention_heads: heads[0],
          num_hidden_layers: spec.layers.length,
          num_key_value_heads: kvHeads[0],
        },
      },
    },
  };
}
