/**
 * What a prune did, in numbers and names: parameter counts before/after, the plan's provenance, the
 * input's fingerprint. Stored three ways: model metadata_props (llm_bip.*), a sidecar
 * `<out>.pruning.json`, and a pruned HF config.json when the input had one.
 */
import type { ModelProto, StringStringEntry } from '@llm-bip/onnx-io';
import { groupParameters, type ModelSpec, type PruningPlan } from '@llm-bip/model';

export const RECORD_FORMAT = 'llm-bip.pruning/v1';

export interface LayerParameters {
  layer: number;
  attention: number;
  mlp: number;
  norms: number;
  /** compensation biases added by surgery */
  bias: number;
}

export interface ParameterSummary {
  perLayer: LayerParameters[];
  attention: number;
  mlp: number;
  /** attention + mlp + norms + biases + embeddings + final norm */
  total: number;
}

export interface LayerChange {
  layer: number;
  heads: [number, number];
  kvHeads: [number, number];
  channels: [number, number];
  /** the sub-block was removed (zero heads / zero channels): the residual stream passes through */
  attentionRemoved: boolean;
  ffnRemoved: boolean;
}

export interface PruningRecord {
  format: typeof RECORD_FORMAT;
  createdAt: string;
  input: { path: string; fingerprint: string; recogniser: string; flavour: string };
  output: { path: string; dataPath?: string };
  plan: {
    criterion: string;
    ratio: number;
    allocation: string;
    headGranularity: string;
    calibration?: PruningPlan['calibration'];
    seed?: number;
    createdAt?: string;
    modelFingerprint: string;
    /** the plan was made on this very file (false: same shapes, another file or version; empty: unknown) */
    madeForThisModel?: boolean;
    notes?: Record<string, unknown>;
  };
  compensation: boolean;
  /** least-squares reconstruction of o_proj / down_proj: how it was made and each projection's ridge (absent: none) */
  reconstruction?: Record<string, unknown>;
  parameters: {
    before: ParameterSummary;
    after: ParameterSummary;
    /** fraction of attention + MLP parameters removed */
    removedFraction: number;
    /** elements of all initializers as stored (includes rotary caches and the like) */
    storedElements: { before: number; after: number };
  };
  layers: LayerChange[];
  /** layers with no heads left: their past/present KV I/O stays, with zero KV heads */
  kvCacheEmptiedLayers: number[];
}

export function parameterSummary(spec: ModelSpec, kept?: LayerChange[], compensated?: Set<string>): ParameterSummary {
  const h = spec.hiddenSize;
  const perLayer = spec.layers.map((l, i) => {
    const c = kept?.[l.index];
    const bias = (compensated?.has(`${l.index}:attention`) ? h : 0) + (compensated?.has(`${l.index}:ffn`) ? h : 0);
    // what the kept KV groups and channels own (groups.ts)
    const owned = groupParameters(spec, i, c?.kvHeads[1], c?.channels[1]);
    return {
      layer: l.index,
      attention: owned.attention,
      mlp: owned.mlp,
      norms: (c?.attentionRemoved ? 0 : h) + (c?.ffnRemoved ? 0 : h),
      bias,
    };
  });
  const attention = perLayer.reduce((a, l) => a + l.attention, 0);
  const mlp = perLayer.reduce((a, l) => a + l.mlp, 0);
  const rest = perLayer.reduce((a, l) => a + l.norms + l.bias, 0) + h + spec.vocabSize * h * (spec.tiedEmbeddings ? 1 : 2);
  return { perLayer, attention, mlp, total: attention + mlp + rest };
}

/** Elements of all initializers; `dims` overrides the stored dims of tensors that will be sliced. */
export function storedElements(model: ModelProto, dims?: Map<string, number[]>): number {
  let n = 0;
  for (const t of model.graph?.initializer ?? []) n += (dims?.get(t.name ?? '') ?? (t.dims ?? []).map(Number)).reduce<number>((a, d) => a * d, 1);
  return n;
}


/**
 * llm_bip.pruning.* metadata_props entries for the output model. Other keys (the exporter's
 * llm_bip.exporter, llm_bip.config, ...) are kept; an earlier prune's llm_bip.pruning.* entries are
 * replaced (its sidecar keeps the history).
 */
export function provenanceMetadata(existing: StringStringEntry[] | null | undefined, r: PruningRecord): StringStringEntry[] {
  const keep = (existing ?? []).filter((e) => !(e.key ?? '').startsWith('llm_bip.pruning.'));
  const entries: Record<string, string> = {
    'llm_bip.pruning.format': r.format,
    'llm_bip.pruning.created_at': r.createdAt,
    'llm_bip.pruning.source_fingerprint': r.input.fingerprint,
    'llm_bip.pruning.source_recogniser': `${r.input.recogniser}: ${r.input.flavour}`,
    'llm_bip.pruning.criterion': r.plan.criterion,
    'llm_bip.pruning.ratio': String(r.plan.ratio),
    'llm_bip.pruning.allocation': r.plan.allocation,
    'llm_bip.pruning.head_granularity': r.plan.headGranularity,
    'llm_bip.pruning.plan_model_fingerprint': r.plan.modelFingerprint,
    'llm_bip.pruning.compensation': String(r.compensation),
    'llm_bip.pruning.parameters_before': String(r.parameters.before.total),
    'llm_bip.pruning.parameters_after': String(r.parameters.after.total),
    'llm_bip.pruning.removed_fraction': r.parameters.removedFraction.toFixed(6),
    'llm_bip.pruning.layers': JSON.stringify(r.layers.map((l) => ({ layer: l.layer, heads: l.heads[1], kvHeads: l.kvHeads[1], channels: l.channels[1] }))),
  };
  if (r.plan.calibration) entries['llm_bip.pruning.calibration'] = JSON.stringify(r.plan.calibration);
  if (r.plan.seed !== undefined) entries['llm_bip.pruning.seed'] = String(r.plan.seed);
  if (r.reconstruction) {
    // the per-projection list stays in the sidecar; the model carries how it was made
    const { projections: _, ...how } = r.reconstruction;
    entries['llm_bip.pruning.reconstruction'] = JSON.stringify(how);
  }
  if (r.kvCacheEmptiedLayers.length) entries['llm_bip.pruning.kv_cache_emptied_layers'] = r.kvCacheEmptiedLayers.join(',');
  return [...keep, ...Object.entries(entries).map(([key, value]) => ({ key, value }))];
}

/**
 * A pruned HF config.json. Per-layer sizes go in `llm_bip_layers` (one entry per layer, in order:
 * num_attention_heads, num_key_value_heads, head_dim, intermediate_size; the runtime sizes each layer's
 * KV cache from it); the top-level fields stay truthful when every layer kept the same sizes, and
 * otherwise hold the largest layer's sizes (an upper bound, so HF loaders that allocate from them do
 * not fall short), with `head_dim` always explicit because hidden_size / num_attention_heads no longer
 * gives it.
 */
export function prunedHfConfig(config: Record<string, unknown>, spec: ModelSpec, r: PruningRecord): Record<string, unknown> {
  const live = r.layers;
  const uniform = (f: (l: LayerChange) => number) => new Set(live.map(f)).size === 1;
  const max = (f: (l: LayerChange) => number) => Math.max(...live.map(f));
  const allUniform = uniform((l) => l.heads[1]) && uniform((l) => l.kvHeads[1]) && uniform((l) => l.channels[1]);
  return {
    ...config,
    num_attention_heads: max((l) => l.heads[1]),
    num_key_value_heads: max((l) => l.kvHeads[1]),
    intermediate_size: max((l) => l.channels[1]),
    head_dim: spec.layers[0]?.headDim ?? config['head_dim'],
    llm_bip_uniform: allUniform,
    llm_bip_layers: live.map((l) => ({
      num_attention_heads: l.heads[1],
      num_key_value_heads: l.kvHeads[1],
      head_dim: spec.layers[l.layer]!.headDim,
      intermediate_size: l.channels[1],
    })),
    llm_bip_pruning: { parameters_before: r.parameters.before.total, parameters_after: r.parameters.after.total, source_fingerprint: r.input.fingerprint, criterion: r.plan.criterion, ratio: r.plan.ratio },
  };
}
