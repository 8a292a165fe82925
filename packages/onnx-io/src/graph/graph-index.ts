/**
 * GraphIndex: use-def lookups over one GraphProto (producers, consumers, initializers, graph inputs and
 * outputs, constant values, a stable topological order). It is a snapshot: rebuild it after a rewrite.
 */
import type { AttributeProto, GraphProto, NodeProto, TensorProto } from '../proto/types.js';
import { DataType, toNumber } from '../proto/types.js';
import { makeTensor } from '../tensor/tensor-data.js';
import { GraphError } from './errors.js';

export interface Producer {
  node: NodeProto;
  /** output slot of `node` */
  output: number;
}

export interface Use {
  node: NodeProto;
  /** input slot of `node`, or -1 when the tensor is read inside one of the node's subgraphs (If, Loop, Scan) */
  input: number;
}

export const IMPLICIT_INPUT = -1;

export class GraphIndex {
  private readonly byName = new Map<string, NodeProto>();
  private readonly position = new Map<NodeProto, number>();
  private readonly producers = new Map<string, Producer>();
  private readonly uses = new Map<string, Use[]>();
  private readonly initializers = new Map<string, TensorProto>();
  private readonly inputs = new Set<string>();
  private readonly outputs = new Set<string>();
  private readonly implicit = new Map<NodeProto, string[]>();

  constructor(readonly graph: GraphProto) {
    for (const t of graph.initializer ?? []) if (t.name) this.initializers.set(t.name, t);
    for (const v of graph.input ?? []) if (v.name) this.inputs.add(v.name);
    for (const v of graph.output ?? []) if (v.name) this.outputs.add(v.name);
    (graph.node ?? []).forEach((node, i) => {
      this.position.set(node, i);
      if (node.name && !this.byName.has(node.name)) this.byName.set(node.name, node);
      (node.output ?? []).forEach((o, output) => {
        if (o && !this.producers.has(o)) this.producers.set(o, { node, output });
      });
      (node.input ?? []).forEach((name, input) => {
        if (name) this.addUse(name, { node, input });
      });
      const outer = subgraphOuterNames(node);
      if (outer.length) {
        this.implicit.set(node, outer);
        for (const name of outer) this.addUse(name, { node, input: IMPLICIT_INPUT });
      }
    });
  }

  private addUse(name: string, use: Use): void {
    const list = this.uses.get(name);
    if (list) list.push(use);
    else this.uses.set(name, [use]);
  }

  get nodes(): readonly NodeProto[] {
    return this.graph.node ?? [];
  }

  /** The first node with this name (node names should be unique; exporters make them so). */
  node(name: string): NodeProto | undefined {
    return this.byName.get(name);
  }

  requireNode(name: string): NodeProto {
    const n = this.byName.get(name);
    if (!n) throw new GraphError(`no node named "${name}" in graph "${this.graph.name ?? ''}"`);
    return n;
  }

  /** Position of a node in graph.node. */
  indexOf(node: NodeProto): number {
    return this.position.get(node) ?? -1;
  }

  producer(tensor: string): Producer | undefined {
    return this.producers.get(tensor);
  }

  /** Every node input that reads `tensor` (graph outputs are not listed: see isGraphOutput). */
  consumers(tensor: string): Use[] {
    return this.uses.get(tensor) ?? [];
  }

  /** Names a node reads inside its subgraphs from this graph's scope. */
  implicitInputs(node: NodeProto): string[] {
    return this.implicit.get(node) ?? [];
  }

  initializer(name: string): TensorProto | undefined {
    return this.initializers.get(name);
  }

  isGraphInput(name: string): boolean {
    return this.inputs.has(name);
  }

  isGraphOutput(name: string): boolean {
    return this.outputs.has(name);
  }

  /** Whether a tensor of this name exists: a graph input, an initializer or a node output. */
  hasTensor(name: string): boolean {
    return this.inputs.has(name) || this.initializers.has(name) || this.producers.has(name);
  }

  /**
   * The constant value behind a tensor name: an initializer, or a Constant node's value (value,
   * value_int(s), value_float(s); the latter are returned as a new TensorProto). Undefined when the
   * tensor is computed, or a graph input that callers may override.
   */
  constantTensor(name: string): TensorProto | undefined {
    const init = this.initializers.get(name);
    if (init) return this.inputs.has(name) ? undefined : init;
    const p = this.producers.get(name);
    if (!p || !isConstantNode(p.node)) return undefined;
    const attr = p.node.attribute?.[0];
    return attr ? constantAttributeTensor(attr, name) : undefined;
  }

  /**
   * Nodes in a topological order that keeps the current order wherever the dependencies allow
   * (a sorted graph comes back unchanged). Throws GraphError on a cycle.
   */
  topologicalOrder(): NodeProto[] {
    const nodes = this.nodes;
    const deps: number[][] = nodes.map(() => []);
    const waiting = new Array<number>(nodes.length).fill(0);
    nodes.forEach((node, i) => {
      const seen = new Set<number>();
      for (const name of [...(node.input ?? []), ...this.implicitInputs(node)]) {
        const p = name ? this.producers.get(name) : undefined;
        if (!p) continue; // graph input, initializer, outer scope or absent optional input
        const j = this.position.get(p.node)!;
        if (seen.has(j)) continue;
        seen.add(j);
        deps[j]!.push(i);
        waiting[i]!++;
      }
    });
    const ready = new MinHeap();
    waiting.forEach((w, i) => w === 0 && ready.push(i));
    const order: NodeProto[] = [];
    while (ready.size > 0) {
      const i = ready.pop();
      order.push(nodes[i]!);
      for (const k of deps[i]!) if (--waiting[k]! === 0) ready.push(k);
    }
    if (order.length < nodes.length) {
      const stuck = nodes.filter((_, i) => waiting[i]! > 0).slice(0, 5).map((n) => `"${n.name || n.opType}"`);
      throw new GraphError(`graph "${this.graph.name ?? ''}" has a cycle: ${nodes.length - order.length} nodes wait on each other (e.g. ${stuck.join(', ')})`);
    }
    return order;
  }

  /** Every name used in the graph (tensors, nodes, value infos), for choosing fresh names. */
  usedNames(): Set<string> {
    const names = new Set<string>([...this.initializers.keys(), ...this.inputs, ...this.outputs, ...this.producers.keys(), ...this.uses.keys(), ...this.byName.keys()]);
    for (const v of this.graph.valueInfo ?? []) if (v.name) names.add(v.name);
    return names;
  }

  /** `base` if unused, else `base_1`, `base_2`, ... */
  freshName(base: string, taken: Set<string> = this.usedNames()): string {
    let name = base;
    for (let k = 1; taken.has(name); k++) name = `${base}_${k}`;
    taken.add(name);
    return name;
  }
}

export function isConstantNode(n: NodeProto): boolean {
  return n.opType === 'Constant' && (!n.domain || n.domain === 'ai.onnx');
}

/** A Constant node's attribute as a TensorProto (value_string(s) and sparse_value: undefined). */
export function constantAttributeTensor(attr: AttributeProto, name: string): TensorProto | undefined {
  switch (attr.name) {
    case 'value':
      return attr.t ?? undefined;
    case 'value_int':
      return makeTensor(name, DataType.INT64, [], [toNumber(attr.i)]);
    case 'value_ints':
      return makeTensor(name, DataType.INT64, [attr.ints?.length ?? 0], (attr.ints ?? []).map((v) => toNumber(v)));
    case 'value_float':
      return makeTensor(name, DataType.FLOAT, [], [attr.f ?? 0]);
    case 'value_floats':
      return makeTensor(name, DataType.FLOAT, [attr.floats?.length ?? 0], attr.floats ?? []);
    default:
      return undefined;
  }
}

/** Names read inside a node's subgraphs that those subgraphs do not define themselves. */
export function subgraphOuterNames(node: NodeProto): string[] {
  const out = new Set<string>();
  for (const a of node.attribute ?? []) {
    for (const g of [...(a.g ? [a.g] : []), ...(a.graphs ?? [])]) for (const n of graphOuterNames(g)) out.add(n);
  }
  return [...out];
}

function graphOuterNames(g: GraphProto): Set<string> {
  const defined = new Set<string>();
  for (const v of g.input ?? []) if (v.name) defined.add(v.name);
  for (const t of g.initializer ?? []) if (t.name) defined.add(t.name);
  for (const n of g.node ?? []) for (const o of n.output ?? []) if (o) defined.add(o);
  const outer = new Set<string>();
  for (const n of g.node ?? []) {
    for (const i of [...(n.input ?? []), ...subgraphOuterNames(n)]) if (i && !defined.has(i)) outer.add(i);
  }
  for (const v of g.output ?? []) if (v.name && !defined.has(v.name)) outer.add(v.name);
  return outer;
}

/** Binary min-heap of node positions: Kahn's algorithm picks the earliest ready node, keeping the sort stable. */
class MinHeap {
  private readonly a: number[] = [];
  get size(): number {
    return this.a.length;
  }
  push(v: number): void {
    const a = this.a;
    a.push(v);
    for (let i = a.length - 1; i > 0; ) {
      const p = (i - 1) >> 1;
      if (a[p]! <= a[i]!) break;
      [a[p], a[i]] = [a[i]!, a[p]!];
      i = p;
    }
  }
  pop(): number {
    const a = this.a;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && a[l]! < a[m]!) m = l;
        if (r < a.length && a[r]! < a[m]!) m = r;
        if (m === i) break;
        [a[m], a[i]] = [a[i]!, a[m]!];
        i = m;
      }
    }
    return top;
  }
}
