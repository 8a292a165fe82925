/** recogniseModel: try each recogniser in turn; the first whose structural walk succeeds gives the ModelSpec. */
import { GraphIndex, type ModelProto, toNumber } from '@llm-bip/onnx-io';
import { familyOf, type Family } from '../hf/families.js';
import type { ModelSpec, RecogniserName } from '../spec.js';
import { walkDecoder, type DecoderWalk } from './decoder.js';
import { PatternNotFound, UnsupportedGraphError, type RecogniserAttempt } from './errors.js';

export interface RecogniseOptions {
  /** folder of the model file (kept for recognisers that read external constants; the current ones read only inline data) */
  modelDir?: string;
  /** name used in error messages (e.g. the file path) */
  source?: string;
}

interface Recogniser {
  name: RecogniserName;
  /** why this recogniser does not apply (no hint in the model), or undefined when it should try */
  skip(model: ModelProto): string | undefined;
  /** describe what matched; may reject a walk that is not its kind */
  flavour(model: ModelProto, walk: DecoderWalk): string;
}

const CONTRIB_OPS = new Set(['GroupQueryAttention', 'MultiHeadAttention', 'SkipSimplifiedLayerNormalization', 'SimplifiedLayerNormalization', 'RotaryEmbedding']);

function meta(model: ModelProto, key: string): string | undefined {
  return (model.metadataProps ?? []).find((p) => p.key === key)?.value ?? undefined;
}

function opset(model: ModelProto): number {
  return toNumber((model.opsetImport ?? []).find((o) => !o.domain || o.domain === 'ai.onnx')?.version);
}

function cacheWords(w: DecoderWalk): string {
  return w.kvCache ? 'KV cache' : 'no KV cache';
}

const hasContribOps = (m: ModelProto) => (m.graph?.node ?? []).some((n) => CONTRIB_OPS.has(n.opType ?? ''));

class NotThisKind extends Error {}

export const RECOGNISERS: readonly Recogniser[] = [
  {
    name: 'llm-bip-export',
    skip: (m) => (meta(m, 'llm_bip.exporter') ? undefined : 'no llm_bip.exporter metadata'),
    flavour: (m, w) =>
      `llm-bip exporter ${meta(m, 'llm_bip.exporter_version') ?? '?'}, opset ${opset(m)}, ${w.contribAttention ? 'contrib attention' : 'standard ops'}, ${w.weightType} weights, ${cacheWords(w)}`,
  },
  {
    name: 'genai-builder',
    skip: (m) => (hasContribOps(m) || m.producerName === 'onnxruntime-genai' ? undefined : 'no onnxruntime contrib ops (GroupQueryAttention, SkipSimplifiedLayerNormalization, ...)'),
    flavour: (m, w) => {
      if (!w.contribAttention) throw new NotThisKind('attention is not a contrib op');
      const gqa = w.layers[0]!.attention.kind === 'group-query-attention' ? 'GroupQueryAttention' : 'MultiHeadAttention';
      const fused = w.layers[0]!.q.columns ? 'fused qkv_proj' : 'separate q/k/v';
      return `onnxruntime-genai model builder (${gqa}, ${fused}), opset ${opset(m)}, ${w.weightType} weights, ${cacheWords(w)}`;
    },
  },
  {
    name: 'torch-onnx',
    skip: (m) => (hasContribOps(m) ? 'the graph uses onnxruntime contrib ops, which torch.onnx does not emit' : undefined),
    flavour: (m, w) => {
      const nodes = m.graph?.node ?? [];
      const dynamo = nodes.some((n) => (n.name ?? '').startsWith('node_')) || toNumber(m.irVersion) >= 10;
      const who = m.producerName === 'pytorch' ? `torch.onnx ${dynamo ? 'dynamo' : 'TorchScript'} exporter` : `standard-op graph from ${m.producerName || 'an unnamed producer'}`;
      return `${who}, opset ${opset(m)}, ${w.weightType} weights, ${cacheWords(w)}`;
    },
  },
];

/** The HF model_type our exporter recorded (llm_bip.config); other exporters do not say. */
function exportedFamily(model: ModelProto): Family | undefined {
  try {
    return familyOf((JSON.parse(meta(model, 'llm_bip.config') ?? '{}') as { modelType?: unknown }).modelType)?.family;
  } catch {
    return undefined;
  }
}

export function recogniseModel(model: ModelProto, opts: RecogniseOptions = {}): ModelSpec {
  const src = opts.source ?? 'the model';
  if (!model.graph) throw new UnsupportedGraphError([{ recogniser: 'all', outcome: 'failed', reason: 'the model has no graph' }], src);
  const ix = new GraphIndex(model.graph);
  const attempts: RecogniserAttempt[] = [];
  let walk: DecoderWalk | undefined;
  let walkError: unknown;
  for (const r of RECOGNISERS) {
    const why = r.skip(model);
    if (why) {
      attempts.push({ recogniser: r.name, outcome: 'skipped', reason: why });
      continue;
    }
    try {
      if (!walk && !walkError) {
        try {
          walk = walkDecoder(ix);
        } catch (e) {
          walkError = e;
        }
      }
      if (walkError) throw walkError;
      const flavour = r.flavour(model, walk!);
      const { contribAttention: _c, ...spec } = walk!;
      const family = exportedFamily(model);
      return { recogniser: r.name, flavour, ...(family ? { family } : {}), ...spec };
    } catch (e) {
      if (e instanceof PatternNotFound) attempts.push({ recogniser: r.name, outcome: 'failed', reason: e.message, pattern: e.pattern, ...(e.stoppedAt ? { stoppedAt: e.stoppedAt } : {}) });
      else if (e instanceof NotThisKind) attempts.push({ recogniser: r.name, outcome: 'failed', reason: e.message });
      else throw e;
    }
  }
  throw new UnsupportedGraphError(attempts, src);
}
