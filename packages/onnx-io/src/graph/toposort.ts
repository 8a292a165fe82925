import type { GraphProto } from '../proto/types.js';
import { GraphIndex } from './graph-index.js';

/** Sort graph.node topologically, moving as little as possible (stable). Mutates `graph`. */
export function toposort(graph: GraphProto): { modified: boolean } {
  const nodes = graph.node ?? [];
  const order = new GraphIndex(graph).topologicalOrder();
  const modified = order.some((n, i) => n !== nodes[i]);
  if (modified) graph.node = order;
  return { modified };
}
