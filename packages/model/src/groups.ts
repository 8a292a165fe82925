/**
 * Groups as data: which initializer slices each prunable unit of a layer owns, and how many parameters
 * that is. This is the one place that knows it; surgery slices these, criteria score them, allocation
 * and the parameter counts add them up, `llm-bip plan --explain` prints them.
 *
 * A prunable unit is a KV group (grouped-query attention: one KV head and its query heads), a query
 * head (multi-head attention, where each head is its own KV group), or an FFN channel. It owns, per
 * projection, one `GroupSlice`: the indices along one axis of one initializer. Fused weights (the genai
 * builder's qkv_proj) are offset by the projection's column range, so q, k and v slices name one
 * tensor. Biases (Qwen2's q/k/v) are sliced with their features. Qwen3's q_norm / k_norm gains are
 * [headDim], shared by every head: a group owns no slice of them.
 *
 * Worked example: layer 0 of a GQA model exported by `exportLlamaToOnnx` with hidden 64, 8 query
 * heads, 2 KV heads, head_dim 8, 80 channels (MatMul weights stored [in, out]). KV group 1 owns query
 * heads 4..7:
 *
 *   { layer: 0, kind: 'kv-group', index: 1, heads: [4, 5, 6, 7], parameters: 5120, slices: [
 *     { role: 'q', tensor: 'model.layers.0.self_attn.q_proj.weight', axis: 1, indices: [32, ..., 63], perIndex: 64 },
 *     { role: 'k', tensor: 'model.layers.0.self_attn.k_proj.weight', axis: 1, indices: [8, ..., 15], perIndex: 64 },
 *     { role: 'v', tensor: 'model.layers.0.self_attn.v_proj.weight', axis: 1, indices: [8, ..., 15], perIndex: 64 },
 *     { role: 'o', tensor: 'model.layers.0.self_attn.o_proj.weight', axis: 0, indices: [32, ..., 63], perIndex: 64 } ] }
 *
 * parameters = Σ indices.length × perIndex = 64 × (32 + 8 + 8 + 32). Channel 5 owns
 * gate_proj.weight axis 1 [5], up_proj.weight axis 1 [5], down_proj.weight axis 0 [5]: 3 × 64.
 */
import type { PruningPlan } from './plan.js';
import type { LayerSpec, LinearRef, ModelSpec } from './spec.js';

export type SliceRole = 'q' | 'k' | 'v' | 'o' | 'gate' | 'up' | 'down' | 'q.bias' | 'k.bias' | 'v.bias' | 'gate.bias' | 'up.bias';

export interface GroupSlice {
  /** which projection (and whether its weight or bias) the slice belongs to */
  role: SliceRole;
  /** initializer name */
  tensor: string;
  axis: number;
  /** ascending indices along `axis` */
  indices: number[];
  /** elements one index owns: the size of the tensor's other axis (1 for a bias) */
  perIndex: number;
}

export interface Group {
  layer: number;
  /** 'kv-group' under GQA, 'head' under MHA (a head is its own KV group), 'channel' in the FFN */
  kind: 'kv-group' | 'head' | 'channel';
  /** KV head index, or channel index */
  index: number;
  /** the query heads a head group owns */
  heads?: number[];
  slices: GroupSlice[];
  /** Σ over slices of indices.length × perIndex */
  parameters: number;
}

export interface LayerGroups {
  layer: number;
  /** one per KV head (the plan's keepKvHeads index) */
  heads: Group[];
  /** one per FFN channel */
  channels: Group[];
}

type Projection = Pick<LinearRef, 'weight' | 'outAxis' | 'columns' | 'bias'>;

/** What groups are derived from: a ModelSpec is one; `planGroupSource` builds one from a plan's model shape. */
export interface GroupSource {
  hiddenSize: number;
  layers: ReadonlyArray<Pick<LayerSpec, 'index' | 'numHeads' | 'numKvHeads' | 'headDim' | 'intermediateSize'> & Record<'q' | 'k' | 'v' | 'o' | 'gate' | 'up' | 'down', Projection>>;
}

export type GroupKind = 'heads' | 'channels';

/**
 * The layer whose `index` is `layer`: by position when the source holds every layer, else by search (a
 * caller may pass a spec restricted to some layers, as the sequential pass does for one block).
 */
function layerOf(source: GroupSource, layer: number, what: string): GroupSource['layers'][number] {
  const l = source.layers[layer]?.index === layer ? source.layers[layer] : source.layers.find((x) => x.index === layer);
  if (!l) throw new RangeError(`${what}: layer ${layer} is not among the layers ${source.layers.map((x) => x.index).join(', ')}`);
  return l;
}

/** The group `index` of one kind in one layer. */
export function groupOf(source: GroupSource, layer: number, kind: GroupKind, index: number): Group {
  const l = layerOf(source, layer, 'groupOf');
  const h = source.hiddenSize;
  const slices: GroupSlice[] = [];
  // output features of a projection (offset inside a fused weight) and the same entries of its bias
  const outputs = (role: 'q' | 'k' | 'v' | 'gate' | 'up', ref: Projection, indices: number[]) => {
    const at = indices.map((i) => i + (ref.columns?.start ?? 0));
    slices.push({ role, tensor: ref.weight, axis: ref.outAxis, indices: at, perIndex: h });
    if (ref.bias) slices.push({ role: `${role}.bias`, tensor: ref.bias, axis: 0, indices: at, perIndex: 1 });
  };
  const inputs = (role: 'o' | 'down', ref: Projection, indices: number[]) => slices.push({ role, tensor: ref.weight, axis: 1 - ref.outAxis, indices, perIndex: h });

  let group: Omit<Group, 'slices' | 'parameters'>;
  if (kind === 'heads') {
    if (!(index >= 0 && index < l.numKvHeads)) throw new RangeError(`groupOf: layer ${layer} has KV heads 0..${l.numKvHeads - 1}, not ${index}`);
    const rep = l.numHeads / l.numKvHeads;
    const heads = span(index * rep, rep);
    const qFeatures = span(index * rep * l.headDim, rep * l.headDim);
    const kvFeatures = span(index * l.headDim, l.headDim);
    outputs('q', l.q, qFeatures);
    outputs('k', l.k, kvFeatures);
    outputs('v', l.v, kvFeatures);
    inputs('o', l.o, qFeatures);
    group = { layer: l.index, kind: rep === 1 ? 'head' : 'kv-group', index, heads };
  } else {
    if (!(index >= 0 && index < l.intermediateSize)) throw new RangeError(`groupOf: layer ${layer} has channels 0..${l.intermediateSize - 1}, not ${index}`);
    outputs('gate', l.gate, [index]);
    outputs('up', l.up, [index]);
    inputs('down', l.down, [index]);
    group = { layer: l.index, kind: 'channel', index };
  }
  return { ...group, slices, parameters: slices.reduce((a, s) => a + s.indices.length * s.perIndex, 0) };
}

/** Every group of one layer. */
export function layerGroups(source: GroupSource, layer: number): LayerGroups {
  const l = layerOf(source, layer, 'layerGroups');
  return {
    layer: l.index,
    heads: span(0, l.numKvHeads).map((g) => groupOf(source, layer, 'heads', g)),
    channels: span(0, l.intermediateSize).map((c) => groupOf(source, layer, 'channels', c)),
  };
}

/**
 * Every group of every layer, as plain JSON. For a large model this is big (one object per FFN
 * channel); code that walks layers one at a time should call `layerGroups` or `groupOf`.
 */
export function groupsOf(source: GroupSource): LayerGroups[] {
  return source.layers.map((_, i) => layerGroups(source, i));
}

/**
 * Parameters one layer's prunable groups own, with `kvHeads` KV groups and `channels` channels
 * (default: all). All groups of one kind in a layer have the same slice shapes, so n groups own
 * n × one group's parameters.
 */
export function groupParameters(source: GroupSource, layer: number, kvHeads?: number, channels?: number): { attention: number; mlp: number } {
  const l = layerOf(source, layer, 'groupParameters');
  const nHeads = kvHeads ?? l.numKvHeads;
  const nChannels = channels ?? l.intermediateSize;
  return {
    attention: nHeads === 0 ? 0 : nHeads * groupOf(source, layer, 'heads', 0).parameters,
    mlp: nChannels === 0 ? 0 : nChannels * groupOf(source, layer, 'channels', 0).parameters,
  };
}

/**
 * A GroupSource from a plan's model shape alone (no model file): the initializer names and layout that
 * `exportLlamaToOnnx` writes (`model.layers.N.self_attn.q_proj.weight`, MatMul [in, out], no biases).
 * Other exporters name, fuse and transpose differently: recognise the model for its real names.
 */
export function planGroupSource(shape: PruningPlan['model']): GroupSource {
  const proj = (i: number, block: 'self_attn' | 'mlp', name: string): Projection => ({ weight: `model.layers.${i}.${block}.${name}.weight`, outAxis: 1 });
  return {
    hiddenSize: shape.hiddenSize,
    layers: span(0, shape.numLayers).map((i) => ({
      index: i,
      numHeads: shape.numHeads[i]!,
      numKvHeads: shape.numKvHeads[i]!,
      headDim: shape.headDim[i]!,
      intermediateSize: shape.intermediateSize[i]!,
      q: proj(i, 'self_attn', 'q_proj'),
      k: proj(i, 'self_attn', 'k_proj'),
      v: proj(i, 'self_attn', 'v_proj'),
      o: proj(i, 'self_attn', 'o_proj'),
      gate: proj(i, 'mlp', 'gate_proj'),
      up: proj(i, 'mlp', 'up_proj'),
      down: proj(i, 'mlp', 'down_proj'),
    })),
  };
}

function span(start: number, length: number): number[] {
  return Array.from({ length }, (_, i) => start + i);
}

/** One initializer a plan slices in one layer: along `axis`, `removed` of the `of` indices the layer's groups own go. */
export interface TensorCut {
  tensor: string;
  axis: number;
  removed: number;
  of: number;
}

export interface LayerCut {
  layer: number;
  /** query heads removed, and their KV groups (equal under MHA) */
  removedHeads: number[];
  removedKvHeads: number[];
  removedChannels: number[];
  /** no head / no channel left: surgery drops the block's weights and passes the residual stream through */
  attentionRemoved: boolean;
  ffnRemoved: boolean;
  tensors: TensorCut[];
  /** parameters the removed groups own, and all the layer's groups own */
  parameters: { attention: number; mlp: number; removed: number; of: number };
}

export interface PlanCuts {
  layers: LayerCut[];
  /** attention + MLP parameters removed, of all, and the fraction */
  parameters: { removed: number; of: number; fraction: number };
}

/**
 * Exactly what a plan cuts, from the groups it removes: per layer the heads / KV groups and channels,
 * each initializer sliced (axis, how many indices go) and the parameters removed. Plain JSON.
 * `source` names the tensors: the recognised ModelSpec for a model's real initializers, or
 * `planGroupSource(plan.model)` (the default) for the names `exportLlamaToOnnx` writes.
 */
export function planCuts(plan: PruningPlan, source: GroupSource = planGroupSource(plan.model)): PlanCuts {
  let removedAll = 0;
  let all = 0;
  const layers = plan.layers.map((lp): LayerCut => {
    const l = source.layers[lp.layer];
    if (!l) throw new RangeError(`plan names layer ${lp.layer}, the model has layers 0..${source.layers.length - 1}`);
    const groups = layerGroups(source, lp.layer);
    const keepKv = new Set(lp.keepKvHeads);
    const keepCh = new Set(lp.keepChannels);
    const gone = [...groups.heads.filter((g) => !keepKv.has(g.index)), ...groups.channels.filter((g) => !keepCh.has(g.index))];
    const tensors = new Map<string, TensorCut>();
    for (const g of [...groups.heads, ...groups.channels]) {
      for (const s of g.slices) {
        const key = `${s.tensor}|${s.axis}`;
        const t = tensors.get(key) ?? { tensor: s.tensor, axis: s.axis, removed: 0, of: 0 };
        t.of += s.indices.length;
        tensors.set(key, t);
      }
    }
    for (const g of gone) for (const s of g.slices) tensors.get(`${s.tensor}|${s.axis}`)!.removed += s.indices.length;
    const sum = (gs: Group[]) => gs.reduce((a, g) => a + g.parameters, 0);
    const attention = sum(gone.filter((g) => g.kind !== 'channel'));
    const mlp = sum(gone.filter((g) => g.kind === 'channel'));
    const of = sum(groups.heads) + sum(groups.channels);
    removedAll += attention + mlp;
    all += of;
    const keepHeads = new Set(lp.keepHeads);
    return {
      layer: lp.layer,
      removedHeads: span(0, l.numHeads).filter((h) => !keepHeads.has(h)),
      removedKvHeads: span(0, l.numKvHeads).filter((g) => !keepKv.has(g)),
      removedChannels: span(0, l.intermediateSize).filter((c) => !keepCh.has(c)),
      attentionRemoved: lp.keepKvHeads.length === 0,
      ffnRemoved: lp.keepChannels.length === 0,
      tensors: [...tensors.values()].filter((t) => t.removed > 0),
      parameters: { attention, mlp, removed: attention + mlp, of },
    };
  });
  return { layers, parameters: { removed: removedAll, of: all, fraction: all ? removedAll / all : 0 } };
}

/** Parameter counts derived from a spec (attention + MLP per layer: the groups' slices, biases included; embeddings, total). */
export interface ParameterCounts {
  perLayer: Array<{ attention: number; mlp: number; norms: number }>;
  attention: number;
  mlp: number;
  embeddings: number;
  total: number;
}

export function countParameters(spec: ModelSpec): ParameterCounts {
  const h = spec.hiddenSize;
  // attention / MLP: what the layer's prunable groups own (groups.ts)
  const perLayer = spec.layers.map((_, i) => ({ ...groupParameters(spec, i), norms: 2 * h }));
  const attention = perLayer.reduce((a, l) => a + l.attention, 0);
  const mlp = perLayer.reduce((a, l) => a + l.mlp, 0);
  const norms = perLayer.reduce((a, l) => a + l.norms, 0) + h;
  const embeddings = spec.vocabSize * h * (spec.tiedEmbeddings ? 1 : 2);
  return { perLayer, attention, mlp, embeddings, total: attention + mlp + norms + embeddings };
}
