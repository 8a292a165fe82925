/**
 * A live (mutable) view of a graph for surgery's rewiring: node lookup, renaming a tensor's uses,
 * naming unnamed outputs, adding nodes and initializers. onnx-io's GraphIndex is a snapshot, rebuilt
 * after each rewrite; surgery interleaves many small rewrites, so it keeps this thin wrapper and uses
 * onnx-io's removeUnused / toposort / setConstantElement for the rest. Work on a cloneModel copy.
 */
import type { GraphProto, NodeProto, TensorProto, TensorRef } from '@llm-bip/onnx-io';
import { SurgeryError } from './errors.js';

export class EditableGraph {
  private nameCounter = 0;
  private used: Set<string> | undefined;

  constructor(readonly graph: GraphProto) {}

  get nodes(): NodeProto[] {
    return this.graph.node!;
  }

  node(name: string): NodeProto {
    const n = this.nodes.find((x) => x.name === name);
    if (!n) throw new SurgeryError(`the spec names node "${name}", which is not in the graph: the spec was made for another model; recognise this model again`);
    return n;
  }

  producer(tensor: string): { node: NodeProto; index: number } | undefined {
    for (const node of this.nodes) {
      const index = (node.output ?? []).indexOf(tensor);
      if (index >= 0) return { node, index };
    }
    return undefined;
  }

  consumers(tensor: string): Array<{ node: NodeProto; slot: number }> {
    const out: Array<{ node: NodeProto; slot: number }> = [];
    for (const node of this.nodes) (node.input ?? []).forEach((i, slot) => i === tensor && out.push({ node, slot }));
    return out;
  }

  initializer(name: string): TensorProto | undefined {
    return this.graph.initializer!.find((t) => t.name === name);
  }

  isGraphOutput(name: string): boolean {
    return this.graph.output!.some((o) => o.name === name);
  }

  /** A name not used anywhere in the graph, derived from `base`. */
  freshName(base: string): string {
    this.used ??= new Set([
      ...this.nodes.flatMap((n) => [...(n.output ?? []), n.name ?? '']),
      ...this.graph.initializer!.map((t) => t.name ?? ''),
      ...this.graph.input!.map((v) => v.name ?? ''),
    ]);
    let name = base;
    while (this.used.has(name)) name = `${base}_${++this.nameCounter}`;
    this.used.add(name);
    return name;
  }

  /** The tensor name of a TensorRef, naming an unnamed optional output on the (copied) graph. */
  resolve(ref: TensorRef): string {
    if (typeof ref === 'string') return ref;
    const node = this.node(ref.node);
    const outs = node.output!;
    const current = outs[ref.output];
    if (current) return current;
    while (outs.length <= ref.output) outs.push('');
    const name = this.freshName(`${node.name}/output_${ref.output}`);
    outs[ref.output] = name;
    return name;
  }

  /** Make every reader of `from` read `to` instead (graph outputs keep their name through an Identity). */
  renameUses(from: string, to: string, except?: NodeProto): void {
    if (from === to) return;
    if (this.isGraphOutput(from)) {
      // the output keeps its name: its old producer writes a private name, an Identity writes `from`
      const p = this.producer(from);
      if (p) {
        const hidden = this.freshName(`${from}/llm_bip_replaced`);
        p.node.output![p.index] = hidden;
        if (except) except.input = (except.input ?? []).map((i) => (i === from ? hidden : i));
      }
      this.addNode({ name: this.freshName(`${from}/llm_bip_identity`), opType: 'Identity', domain: '', input: [to], output: [from], attribute: [] });
    }
    for (const node of this.nodes) {
      if (node === except || (node.opType === 'Identity' && node.output?.[0] === from)) continue;
      node.input = (node.input ?? []).map((i) => (i === from ? to : i));
    }
  }

  addInitializer(t: TensorProto): string {
    this.graph.initializer!.push(t);
    this.used?.add(t.name ?? '');
    return t.name!;
  }

  addNode(n: NodeProto): NodeProto {
    this.nodes.push(n);
    for (const o of n.output ?? []) this.used?.add(o);
    this.used?.add(n.name ?? '');
    return n;
  }

  removeNode(n: NodeProto): void {
    const i = this.nodes.indexOf(n);
    if (i >= 0) this.nodes.splice(i, 1);
  }
}
