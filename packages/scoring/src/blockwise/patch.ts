/**
 * A segment with some projections changed: weights replaced (same name, same shape and type) and a
 * bias added after a projection's node. Sequential pruning runs an already-pruned block this way: a
 * removed head or channel is a zero input row of o_proj / down_proj, a refit or compensated projection
 * is its new weight plus a bias, so the dense block's graph with these patches computes exactly what the
 * pruned block computes, without cutting the graph per block. The probe's shared nodes are not changed:
 * the patched segment gets copies of the nodes it rewires.
 */
import type { NodeProto, TensorProto } from '@llm-bip/onnx-io';
import { ScoringError } from '../errors.js';
import type { ProbeSegment } from './partition.js';

export interface ProjectionPatch {
  /** the projection's MatMul / Gemm node (LinearRef.node) */
  node: string;
  /** replaces the initializer of the same name (LinearRef.weight), stored as the original */
  weight?: TensorProto;
  /** added to the node's output: a [outFeatures] initializer of the weight's type */
  bias?: TensorProto;
}

/**
 * `keepTaps`: the patched segment computes what it hands on and only these of its tap outputs (probe
 * output names); the other taps and every node that feeds only them are dropped. `[]`: only what it
 * hands on (running a pruned block for its output needs no statistics). With no patches, it only trims
 * the taps: sequential pruning runs one block several times and each run fetches part of them (ORT
 * computes every graph output, fetched or not).
 */
export function patchSegment(seg: ProbeSegment, patches: readonly ProjectionPatch[], opts: { keepTaps?: readonly string[] } = {}): ProbeSegment {
  const initializers = new Map(seg.initializers.map((t) => [t.name ?? '', t]));
  let nodes = seg.nodes;
  const extra: TensorProto[] = [];
  for (const p of patches) {
    const node = nodes.find((n) => n.name === p.node);
    if (!node) throw new ScoringError(`segment ${seg.index} has no node "${p.node}" to patch: the projection is not in this segment's blocks`);
    if (p.weight) {
      const name = p.weight.name ?? '';
      if (!initializers.has(name)) throw new ScoringError(`segment ${seg.index} reads no initializer "${name}" to replace`);
      initializers.set(name, p.weight);
    }
    if (p.bias) {
      const out = node.output?.[0];
      if (!out) throw new ScoringError(`node "${p.node}" has no output`);
      const pre = `${out}/llm_bip_before_bias`;
      const biasName = p.bias.name ?? `${p.node}/llm_bip_bias`;
      const rewired: NodeProto = { ...node, output: [pre, ...(node.output ?? []).slice(1)] };
      const add: NodeProto = { name: `${p.node}/llm_bip_bias_add`, opType: 'Add', domain: '', input: [pre, biasName], output: [out], attribute: [] };
      nodes = nodes.flatMap((n) => (n === node ? [rewired, add] : [n]));
      extra.push({ ...p.bias, name: biasName });
    }
  }
  let inits = [...initializers.values(), ...extra];
  let tapOutputs = seg.tapOutputs;
  // nodes with subgraphs read outer tensors implicitly: keep such a segment whole
  const hasSubgraph = nodes.some((n) => (n.attribute ?? []).some((a) => a.g || (a.graphs?.length ?? 0) > 0));
  const keepTaps = opts.keepTaps;
  if (keepTaps) {
    const unknown = keepTaps.filter((n) => !seg.tapOutputs.some((t) => t.name === n));
    if (unknown.length) throw new ScoringError(`segment ${seg.index} computes no tap output ${unknown.map((n) => `"${n}"`).join(', ')} to keep`);
    if (seg.carriedOut.length === 0 && keepTaps.length === 0) throw new ScoringError(`segment ${seg.index} hands nothing on and no tap is kept: there is nothing to run it for`);
    tapOutputs = seg.tapOutputs.filter((t) => keepTaps.includes(t.name ?? ''));
  }
  if (keepTaps && !hasSubgraph) {
    const needed = new Set([...seg.carriedOut, ...keepTaps]);
    const kept: NodeProto[] = [];
    for (let i = nodes.length - 1; i >= 0; i--) {
      const n = nodes[i]!;
      if (!(n.output ?? []).some((o) => needed.has(o))) continue;
      kept.push(n);
      for (const x of n.input ?? []) if (x) needed.add(x);
    }
    nodes = kept.reverse();
    inits = inits.filter((t) => needed.has(t.name ?? ''));
  }
  return { ...seg, nodes, initializers: inits, tapOutputs };
}
