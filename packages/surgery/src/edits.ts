/**
 * From (spec, plan) to a list of edits: the whole surgery as data. Each edit kind has one small
 * function that applies it (apply-graph.ts for graph edits, stream.ts for weight slices), so a new
 * graph style needs a new recogniser, not new surgery.
 */
import type { TensorRef } from '@llm-bip/onnx-io';
import { groupOf, range, type GroupKind, type KvCacheRef, type LayerPlan, type LayerSpec, type LinearRef, type ModelSpec, type PruningPlan, type ShapeUse, type AttributeUse } from '@llm-bip/model';
import { SurgeryError } from './errors.js';

export type Block = 'attention' | 'ffn';

/** Keep `keep` along `axis` of initializer `tensor` (weights and biases). */
export interface WeightSlice {
  tensor: string;
  axis: number;
  keep: number[];
  /** original size of `axis` */
  size: number;
}

export type GraphEdit =
  | { kind: 'shape-element'; layer: number; use: ShapeUse; from: number; value: number }
  | { kind: 'attribute'; layer: number; use: AttributeUse; from: number; value: number }
  | { kind: 'kv-heads'; layer: number; cache: KvCacheRef; value: number }
  | { kind: 'empty-kv-cache'; layer: number; cache: KvCacheRef; headDim: number; inputIds: string }
  /** the block is gone: readers of `residual` read `base` (+ `bias`, the compensation constant) */
  | { kind: 'bypass'; layer: number; block: Block; residual: TensorRef; base: TensorRef; branch: TensorRef; bias?: Float64Array; biasType?: number }
  /** compensation after a projection that keeps some inputs */
  | { kind: 'add-bias'; layer: number; block: Block; linear: LinearRef; output: TensorRef; values: Float64Array; biasType: number };

export interface SurgeryEdits {
  slices: WeightSlice[];
  graph: GraphEdit[];
  /** projections whose inputs lose rows (for compensation): layer, block, the removed input indices */
  removedInputs: Array<{ layer: number; block: Block; linear: LinearRef; removed: number[] }>;
}

/** Shape of an initializer, for weights whose fused layout keeps columns outside the pruned ranges. */
export type DimsOf = (initializer: string) => number[];

export function planEdits(spec: ModelSpec, plan: PruningPlan, dimsOf: DimsOf): SurgeryEdits {
  const removals = new Map<string, { axis: number; size: number; removed: Set<number> }>();
  const graph: GraphEdit[] = [];
  const removedInputs: SurgeryEdits['removedInputs'] = [];

  const remove = (tensor: string, axis: number, indices: number[]) => {
    const dims = dimsOf(tensor);
    const size = dims[axis];
    if (size === undefined) throw new SurgeryError(`initializer "${tensor}" has rank ${dims.length}, no axis ${axis}: the spec does not match the model`);
    const r = removals.get(tensor) ?? { axis, size, removed: new Set<number>() };
    if (r.axis !== axis) throw new SurgeryError(`initializer "${tensor}" would be sliced along two axes (${r.axis} and ${axis}); surgery cannot prune a weight shared by two projections`);
    for (const i of indices) {
      if (i >= size) throw new SurgeryError(`initializer "${tensor}": index ${i} is outside its axis ${axis} of size ${size}; the spec's head/channel sizes do not match the weight`);
      r.removed.add(i);
    }
    removals.set(tensor, r);
  };
  // the weights a removed group owns (groups.ts); q, k and v of a fused weight share one tensor
  const removeGroups = (layer: number, kind: GroupKind, indices: number[]) => {
    for (const i of indices) for (const s of groupOf(spec, layer, kind, i).slices) remove(s.tensor, s.axis, s.indices);
  };

  for (const lp of plan.layers) {
    const l = spec.layers[lp.layer]!;
    attentionEdits(spec, l, lp, graph, removeGroups);
    ffnEdits(spec, l, lp, graph, removeGroups);
  }
  removedInputs.push(...removedProjectionInputs(spec, plan).map(({ keep: _, ...r }) => r));

  const slices: WeightSlice[] = [];
  for (const [tensor, r] of removals) {
    if (r.removed.size === 0) continue;
    slices.push({ tensor, axis: r.axis, size: r.size, keep: range(r.size).filter((i) => !r.removed.has(i)) });
  }
  return { slices, graph, removedInputs };
}

type Remover = (layer: number, kind: GroupKind, indices: number[]) => void;

/**
 * Every o_proj / down_proj that loses inputs under the plan: the input rows its removed groups own
 * (what compensation replaces by their mean) and the rows it keeps (what a reconstruction refits).
 */
export function removedProjectionInputs(spec: ModelSpec, plan: PruningPlan): Array<{ layer: number; block: Block; linear: LinearRef; removed: number[]; keep: number[] }> {
  const out: ReturnType<typeof removedProjectionInputs> = [];
  for (const lp of plan.layers) {
    const l = spec.layers[lp.layer]!;
    const blocks = [
      { block: 'attention' as const, kind: 'heads' as const, linear: l.o, width: l.numHeads * l.headDim, groups: l.numKvHeads, kept: lp.keepKvHeads },
      { block: 'ffn' as const, kind: 'channels' as const, linear: l.down, width: l.intermediateSize, groups: l.intermediateSize, kept: lp.keepChannels },
    ];
    for (const b of blocks) {
      if (b.kept.length === b.groups && (b.block === 'ffn' || lp.keepHeads.length === l.numHeads)) continue;
      const removed = removedInputRows(spec, l.index, b.kind, complement(b.groups, b.kept));
      const gone = new Set(removed);
      out.push({ layer: l.index, block: b.block, linear: b.linear, removed, keep: range(b.width).filter((i) => !gone.has(i)) });
    }
  }
  return out;
}

/** Input rows of o_proj / down_proj that the removed groups own (what compensation replaces by their mean). */
function removedInputRows(spec: ModelSpec, layer: number, kind: GroupKind, removed: number[]): number[] {
  const role = kind === 'heads' ? 'o' : 'down';
  return removed.flatMap((i) => groupOf(spec, layer, kind, i).slices.find((s) => s.role === role)!.indices);
}

function complement(n: number, keep: number[]): number[] {
  const k = new Set(keep);
  return range(n).filter((i) => !k.has(i));
}

function attentionEdits(spec: ModelSpec, l: LayerSpec, lp: LayerPlan, graph: GraphEdit[], removeGroups: Remover): void {
  const heads = lp.keepHeads.length;
  const kv = lp.keepKvHeads.length;
  if (heads === l.numHeads && kv === l.numKvHeads) return;
  if (heads === 0) {
    graph.push({ kind: 'bypass', layer: l.index, block: 'attention', residual: l.residualMid, base: l.input, branch: l.attnOutput });
    if (l.kvCache) graph.push({ kind: 'empty-kv-cache', layer: l.index, cache: l.kvCache, headDim: l.headDim, inputIds: spec.inputs.inputIds });
    return;
  }
  removeGroups(l.index, 'heads', complement(l.numKvHeads, lp.keepKvHeads));
  const values = roleValues(l, heads, kv, lp.keepChannels.length);
  const original = roleValues(l, l.numHeads, l.numKvHeads, l.intermediateSize);
  for (const use of l.shapeUses) {
    if (use.role === 'ffnWidth') continue;
    graph.push({ kind: 'shape-element', layer: l.index, use, from: original[use.role], value: values[use.role] });
  }
  for (const use of l.attributeUses) {
    graph.push({ kind: 'attribute', layer: l.index, use, from: original[use.role], value: values[use.role] });
  }
  if (l.kvCache && kv !== l.numKvHeads) graph.push({ kind: 'kv-heads', layer: l.index, cache: l.kvCache, value: kv });
}

function ffnEdits(spec: ModelSpec, l: LayerSpec, lp: LayerPlan, graph: GraphEdit[], removeGroups: Remover): void {
  const keep = lp.keepChannels.length;
  if (keep === l.intermediateSize) return;
  const pruned = complement(l.intermediateSize, lp.keepChannels);
  if (keep === 0) {
    graph.push({ kind: 'bypass', layer: l.index, block: 'ffn', residual: l.output, base: l.residualMid, branch: l.ffnOutput });
    return;
  }
  removeGroups(l.index, 'channels', pruned);
  for (const use of l.shapeUses) {
    if (use.role === 'ffnWidth') graph.push({ kind: 'shape-element', layer: l.index, use, from: l.intermediateSize, value: keep });
  }
}

/** The value each ShapeUse role holds for a layer with these sizes. */
function roleValues(l: LayerSpec, heads: number, kv: number, channels: number): Record<ShapeUse['role'], number> {
  return {
    numHeads: heads,
    numKvHeads: kv,
    qWidth: heads * l.headDim,
    kvWidth: kv * l.headDim,
    qkWidth: (heads + kv) * l.headDim,
    ffnWidth: channels,
    kvGroupsRepeat: heads / kv,
  };
}
