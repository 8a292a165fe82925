/**
 * Every TensorProto a model holds (initializers, Constant values and other attribute tensors,
 * subgraphs, function bodies), and a copy-on-write replacement of some of them. External data can
 * sit in any of these, so a save that moves data must see them all.
 */
import type { AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto } from '../proto/types.js';

export interface TensorSlot {
  tensor: TensorProto;
  /** a graph initializer (top level or subgraph), as opposed to an attribute value */
  initializer: boolean;
}

export function collectTensors(model: ModelProto): TensorSlot[] {
  const out: TensorSlot[] = [];
  const visitNodes = (nodes: NodeProto[] | null | undefined) => {
    for (const n of nodes ?? []) {
      for (const a of n.attribute ?? []) {
        if (a.t) out.push({ tensor: a.t, initializer: false });
        for (const t of a.tensors ?? []) out.push({ tensor: t, initializer: false });
        if (a.g) visitGraph(a.g);
        for (const g of a.graphs ?? []) visitGraph(g);
      }
    }
  };
  const visitGraph = (g: GraphProto) => {
    for (const t of g.initializer ?? []) out.push({ tensor: t, initializer: true });
    visitNodes(g.node);
  };
  if (model.graph) visitGraph(model.graph);
  for (const f of (model.functions ?? []) as Array<{ node?: NodeProto[] | null }>) visitNodes(f.node);
  return out;
}

/**
 * A model in which each tensor found in `replacements` is swapped for its replacement. Messages on
 * the way to a replaced tensor are shallow-copied; everything else is shared with `model`, which is
 * left untouched.
 */
export function replaceTensors(model: ModelProto, replacements: Map<TensorProto, TensorProto>): ModelProto {
  if (replacements.size === 0) return model;
  const tensor = (t: TensorProto) => replacements.get(t) ?? t;
  const list = <T>(xs: T[] | null | undefined, f: (x: T) => T): T[] | null | undefined => {
    if (!xs) return xs;
    let changed = false;
    const ys = xs.map((x) => {
      const y = f(x);
      if (y !== x) changed = true;
      return y;
    });
    return changed ? ys : xs;
  };
  const attr = (a: AttributeProto): AttributeProto => {
    const t = a.t ? tensor(a.t) : a.t;
    const tensors = list(a.tensors, tensor);
    const g = a.g ? graph(a.g) : a.g;
    const graphs = list(a.graphs, graph);
    if (t === a.t && tensors === a.tensors && g === a.g && graphs === a.graphs) return a;
    return { ...a, t, tensors, g, graphs };
  };
  const node = (n: NodeProto): NodeProto => {
    const attribute = list(n.attribute, attr);
    return attribute === n.attribute ? n : { ...n, attribute };
  };
  const graph = (g: GraphProto): GraphProto => {
    const initializer = list(g.initializer, tensor);
    const nodes = list(g.node, node);
    if (initializer === g.initializer && nodes === g.node) return g;
    return { ...g, initializer, node: nodes };
  };
  const g = model.graph ? graph(model.graph) : model.graph;
  type Fn = { node?: NodeProto[] | null };
  const functions = list(model.functions as Fn[] | null | undefined, (f) => {
    const nodes = list(f.node, node);
    return nodes === f.node ? f : { ...f, node: nodes };
  });
  if (g === model.graph && functions === model.functions) return model;
  return { ...model, graph: g, functions };
}
