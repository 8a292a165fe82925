import type { GraphProto } from '../proto/types.js';
import { GraphIndex } from './graph-index.js';

/**
 * Remove nodes and initializers that do not contribute to any graph output, and value infos of
 * tensors that no longer exist. Graph inputs are kept (they are the model's interface), and so is an
 * initializer that doubles as a graph input's default. Mutates `graph`.
 */
export function removeUnused(graph: GraphProto): { modified: boolean; removedNodes: number; removedInitializers: number } {
  const index = new GraphIndex(graph);
  const live = new Set<string>((graph.output ?? []).map((v) => v.name ?? ''));
  const keep = new Set<number>();
  const order = index.topologicalOrder();
  for (let k = order.length - 1; k >= 0; k--) {
    const node = order[k]!;
    if (!(node.output ?? []).some((o) => o && live.has(o))) continue;
    keep.add(index.indexOf(node));
    for (const i of node.input ?? []) if (i) live.add(i);
    for (const i of index.implicitInputs(node)) live.add(i);
  }
  const nodes = graph.node ?? [];
  const initializers = graph.initializer ?? [];
  const keptNodes = nodes.filter((_, i) => keep.has(i));
  const keptInits = initializers.filter((t) => live.has(t.name ?? '') || index.isGraphInput(t.name ?? ''));
  const removedNodes = nodes.length - keptNodes.length;
  const removedInitializers = initializers.length - keptInits.length;
  if (removedNodes > 0) graph.node = keptNodes;
  if (removedInitializers > 0) graph.initializer = keptInits;
  if (removedNodes > 0 || removedInitializers > 0) {
    const exists = new Set<string>([...keptInits.map((t) => t.name ?? ''), ...(graph.input ?? []).map((v) => v.name ?? '')]);
    for (const n of keptNodes) for (const o of n.output ?? []) exists.add(o);
    const infos = graph.valueInfo ?? [];
    const keptInfos = infos.filter((v) => exists.has(v.name ?? ''));
    if (keptInfos.length !== infos.length) graph.valueInfo = keptInfos;
  }
  return { modified: removedNodes > 0 || removedInitializers > 0, removedNodes, removedInitializers };
}
