/**
 * value_info entries record static shapes of intermediate tensors. Inside a pruned block those shapes
 * (head counts, widths) are stale, and a runtime that trusts them fails; dropping them is always
 * safe (runtimes re-infer shapes), so entries on the path from a pruned block's input projections to
 * its output projection are removed.
 */
import type { GraphProto, NodeProto } from '@llm-bip/onnx-io';

/** Drop value_info for tensors produced downstream of `starts`, stopping at (and keeping the outputs of) `stops`. */
export function dropStaleValueInfo(graph: GraphProto, starts: Set<string>, stops: Set<string>, extraStartTensors: string[] = []): number {
  const readers = new Map<string, NodeProto[]>();
  for (const n of graph.node ?? []) {
    for (const i of n.input ?? []) {
      if (!i) continue;
      const list = readers.get(i);
      if (list) list.push(n);
      else readers.set(i, [n]);
    }
  }
  const stale = new Set<string>();
  const queue: NodeProto[] = (graph.node ?? []).filter((n) => starts.has(n.name ?? ''));
  for (const t of extraStartTensors) queue.push(...(readers.get(t) ?? []));
  const seen = new Set<NodeProto>();
  while (queue.length) {
    const n = queue.pop()!;
    if (seen.has(n)) continue;
    seen.add(n);
    if (stops.has(n.name ?? '')) continue;
    for (const o of n.output ?? []) {
      if (!o) continue;
      stale.add(o);
      queue.push(...(readers.get(o) ?? []));
    }
  }
  const before = (graph.valueInfo ?? []).length;
  graph.valueInfo = (graph.valueInfo ?? []).filter((v) => !stale.has(v.name ?? ''));
  return before - graph.valueInfo.length;
}
