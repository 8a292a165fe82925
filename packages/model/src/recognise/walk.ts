/**
 * Small graph-walking helpers shared by the recognisers, on top of onnx-io's GraphIndex.
 * "Transparent" ops (Cast, Identity) change storage type, not meaning: the walkers look through them.
 */
import { type GraphIndex, type NodeProto, type TensorProto, DataType, toNumber, bytesToFloat32, inlineTensorBytes, inlineTensorIntegers, tensorDims, isExternal, type TensorRef } from '@llm-bip/onnx-io';

const TRANSPARENT = new Set(['Cast', 'Identity']);

export function isOp(n: NodeProto | undefined, op: string, domain?: string): boolean {
  if (!n || n.opType !== op) return false;
  const d = n.domain ?? '';
  if (domain === undefined) return d === '' || d === 'ai.onnx' || d === 'com.microsoft';
  return d === domain || (domain === '' && d === 'ai.onnx');
}

export function nodeLabel(n: NodeProto | undefined): string | undefined {
  return n ? n.name || `${n.opType}(${(n.output ?? []).join(', ')})` : undefined;
}

/** The tensor before any chain of Cast/Identity that produced `name`. */
export function source(ix: GraphIndex, name: string): string {
  let cur = name;
  for (let guard = 0; guard < 16; guard++) {
    const p = ix.producer(cur);
    if (!p || !TRANSPARENT.has(p.node.opType ?? '') || !p.node.input?.[0]) return cur;
    cur = p.node.input[0];
  }
  return cur;
}

/** `name` and every tensor made from it by Cast/Identity chains. */
export function aliases(ix: GraphIndex, name: string): string[] {
  const out = [name];
  for (let i = 0; i < out.length && out.length < 32; i++) {
    for (const u of ix.consumers(out[i]!)) {
      if (TRANSPARENT.has(u.node.opType ?? '') && u.input === 0 && u.node.output?.[0]) out.push(u.node.output[0]);
    }
  }
  return out;
}

/** Nodes reading `name` or any Cast/Identity alias of it (the alias nodes themselves excluded). */
export function usesThrough(ix: GraphIndex, name: string): Array<{ node: NodeProto; input: number; tensor: string }> {
  const res: Array<{ node: NodeProto; input: number; tensor: string }> = [];
  for (const t of aliases(ix, name)) {
    for (const u of ix.consumers(t)) if (!TRANSPARENT.has(u.node.opType ?? '')) res.push({ node: u.node, input: u.input, tensor: t });
  }
  return res;
}

export function attrInt(n: NodeProto, name: string, dflt?: number): number | undefined {
  const a = (n.attribute ?? []).find((x) => x.name === name);
  if (!a) return dflt;
  return toNumber(a.i);
}

export function attrString(n: NodeProto, name: string): string | undefined {
  const a = (n.attribute ?? []).find((x) => x.name === name);
  if (!a?.s) return undefined;
  return typeof a.s === 'string' ? a.s : new TextDecoder().decode(a.s);
}

export function attrFloat(n: NodeProto, name: string): number | undefined {
  const a = (n.attribute ?? []).find((x) => x.name === name);
  return a ? (a.f ?? 0) : undefined;
}

export function attrInts(n: NodeProto, name: string): number[] | undefined {
  const a = (n.attribute ?? []).find((x) => x.name === name);
  return a ? (a.ints ?? []).map((v) => toNumber(v)) : undefined;
}

/** Integer values of an inline int constant (initializer or Constant node), else undefined. */
export function constInts(ix: GraphIndex, name: string | undefined | null): number[] | undefined {
  if (!name) return undefined;
  const t = ix.constantTensor(name);
  if (!t || isExternal(t)) return undefined;
  if (t.dataType !== DataType.INT64 && t.dataType !== DataType.INT32) return undefined;
  try {
    return inlineTensorIntegers(t);
  } catch {
    return undefined;
  }
}

/** A float constant's first value, rounded to the precision its type holds (1e-5 stays 1e-5). */
export function constFloat(ix: GraphIndex, name: string | undefined | null): number | undefined {
  if (!name) return undefined;
  const t = ix.constantTensor(source(ix, name));
  if (!t || isExternal(t)) return undefined;
  const dt = t.dataType ?? 0;
  if (dt !== DataType.FLOAT && dt !== DataType.FLOAT16 && dt !== DataType.BFLOAT16 && dt !== DataType.DOUBLE) return undefined;
  const v = bytesToFloat32(inlineTensorBytes(t), dt, t.name ?? '?')[0];
  if (v === undefined) return undefined;
  const digits = dt === DataType.DOUBLE ? 15 : dt === DataType.FLOAT ? 7 : 3;
  return Number(v.toPrecision(digits));
}

/** The initializer behind a tensor (through Cast/Identity). */
export function initializerThrough(ix: GraphIndex, name: string): TensorProto | undefined {
  const s = source(ix, name);
  return ix.initializer(s) && !ix.isGraphInput(s) ? ix.initializer(s) : undefined;
}

export function dimsOf(t: TensorProto): number[] {
  return tensorDims(t);
}

/** TensorRef for a node output: its name, or {node, output} when the slot is unnamed. */
export function outputRef(n: NodeProto, slot: number): TensorRef {
  const name = n.output?.[slot];
  return name ? name : { node: n.name ?? '', output: slot };
}

/**
 * Nodes reachable backwards from `start` (the producers of its inputs, transitively), not crossing the
 * tensors in `stop`. Bounded: the attention and FFN blocks are a few hundred nodes at most.
 */
export function ancestors(ix: GraphIndex, start: string[], stop: Set<string>, limit = 4000): Set<NodeProto> {
  const seen = new Set<NodeProto>();
  const queue = [...start];
  while (queue.length && seen.size < limit) {
    const t = queue.pop()!;
    if (stop.has(t)) continue;
    const p = ix.producer(t);
    if (!p || seen.has(p.node)) continue;
    seen.add(p.node);
    for (const i of p.node.input ?? []) if (i) queue.push(i);
  }
  return seen;
}

/** Nodes reachable forwards from `start` tensors, not entering nodes for which `stop` holds. */
export function descendants(ix: GraphIndex, start: string[], stop: (n: NodeProto) => boolean = () => false, limit = 4000): Set<NodeProto> {
  const seen = new Set<NodeProto>();
  const queue = [...start];
  while (queue.length && seen.size < limit) {
    const t = queue.pop()!;
    for (const u of ix.consumers(t)) {
      if (seen.has(u.node) || stop(u.node)) continue;
      seen.add(u.node);
      for (const o of u.node.output ?? []) if (o) queue.push(o);
    }
  }
  return seen;
}

export function elemTypeOf(ix: GraphIndex, name: string): number | undefined {
  const g = ix.graph;
  for (const v of [...(g.output ?? []), ...(g.input ?? []), ...(g.valueInfo ?? [])]) {
    if (v.name === name) return v.type?.tensorType?.elemType ?? undefined;
  }
  return ix.initializer(name)?.dataType ?? undefined;
}
