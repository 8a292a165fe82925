/**
 * What each element of a shape vector is made of: a constant element (with the node/input/element that
 * holds it) or a value computed at run time. Follows the ways exporters build shapes: Concat of pieces,
 * Unsqueeze of scalars, Shape/Gather of other tensors, scalar arithmetic, Reshape(v, [-1]) and the
 * TorchScript Where(Equal(s, -1), 1, s) fix-up.
 */
import type { GraphIndex, NodeProto } from '@llm-bip/onnx-io';
import { attrInt, constInts, source } from './walk.js';

export interface ConstElement {
  kind: 'const';
  value: number;
  /** the node whose input holds the constant, its input slot and the element inside the constant */
  use: { node: string; input: number; element: number };
}

export interface DynamicElement {
  kind: 'dynamic';
  /** when the value is a dimension read from a tensor's shape: that tensor and axis */
  dimOf?: { tensor: string; axis: number };
}

export type ShapeElement = ConstElement | DynamicElement;

const PASS_THROUGH = new Set(['Cast', 'Identity', 'Unsqueeze', 'Squeeze']);

/** Elements of the vector feeding `node`'s input `slot`; undefined when its length cannot be told. */
export function shapeElements(ix: GraphIndex, node: NodeProto, slot: number, depth = 0): ShapeElement[] | undefined {
  const name = node.input?.[slot];
  if (!name || depth > 24) return undefined;
  const vals = constInts(ix, name);
  if (vals) return vals.map((value, element) => ({ kind: 'const', value, use: { node: node.name ?? '', input: slot, element } }));
  const p = ix.producer(name)?.node;
  if (!p) return undefined;
  const op = p.opType ?? '';
  if (PASS_THROUGH.has(op)) return shapeElements(ix, p, 0, depth + 1);
  if (op === 'Concat') {
    const out: ShapeElement[] = [];
    for (let j = 0; j < (p.input?.length ?? 0); j++) {
      const e = shapeElements(ix, p, j, depth + 1);
      if (!e) return undefined;
      out.push(...e);
    }
    return out;
  }
  if (op === 'Reshape') {
    const target = constInts(ix, p.input?.[1]);
    return target && target.length === 1 && target[0] === -1 ? shapeElements(ix, p, 0, depth + 1) : undefined;
  }
  if (op === 'Where') return shapeElements(ix, p, 2, depth + 1);
  if (op === 'Shape') {
    const start = attrInt(p, 'start', 0)!;
    const end = attrInt(p, 'end');
    if (end === undefined || start < 0 || end < 0) return undefined;
    return Array.from({ length: end - start }, (_, k) => ({ kind: 'dynamic', dimOf: { tensor: p.input![0]!, axis: start + k } }));
  }
  if (op === 'Gather') {
    const data = ix.producer(source(ix, p.input?.[0] ?? ''))?.node;
    const idx = constInts(ix, p.input?.[1]);
    if (data?.opType === 'Shape' && idx) {
      const start = attrInt(data, 'start', 0)!;
      return idx.map((i) => ({ kind: 'dynamic', dimOf: { tensor: data.input![0]!, axis: start + i } }));
    }
    return idx && idx.length <= 1 ? [{ kind: 'dynamic' }] : undefined;
  }
  if (['Mul', 'Div', 'Add', 'Sub'].includes(op)) {
    const a = shapeElements(ix, p, 0, depth + 1);
    const b = shapeElements(ix, p, 1, depth + 1);
    if (a?.length === 1 && b?.length === 1) return [{ kind: 'dynamic' }];
    return undefined;
  }
  return undefined;
}

/** The tensor/axis a scalar int value reads from a shape (Gather(Shape(t), i) or Shape(t, start, start+1)). */
export function dimensionSource(ix: GraphIndex, name: string): { tensor: string; axis: number } | undefined {
  // a synthetic consumer: shapeElements only reads node.input[slot]
  const e = shapeElements(ix, { name: '', input: [name] }, 0);
  return e?.length === 1 && e[0]!.kind === 'dynamic' ? e[0]!.dimOf : undefined;
}
