import type { AttributeProto, NodeProto } from '../proto/types.js';
import { toNumber } from '../proto/types.js';
import { GraphError } from './errors.js';

export type AttributeKind = 'int' | 'float' | 'ints' | 'floats';

const TYPE_CODE: Record<AttributeKind, number> = { float: 1, int: 2, floats: 6, ints: 7 };
const KIND_OF: Record<number, AttributeKind> = { 1: 'float', 2: 'int', 6: 'floats', 7: 'ints' };

/**
 * Set a numeric attribute (int, float, ints, floats) on a node. An existing attribute keeps its type;
 * a new one needs `kind`. Returns modified = false when the value is already the same. Mutates `node`.
 */
export function setNodeAttribute(node: NodeProto, name: string, value: number | number[], kind?: AttributeKind): { modified: boolean } {
  const attrs = node.attribute ?? [];
  const at = attrs.findIndex((a) => a.name === name);
  const where = `node "${node.name || node.opType}" attribute "${name}"`;
  let k: AttributeKind;
  if (at >= 0) {
    const existing = KIND_OF[attrs[at]!.type ?? 0];
    if (!existing) throw new GraphError(`${where} has type #${attrs[at]!.type}, not int/float/ints/floats; it cannot be set here`);
    if (kind && kind !== existing) throw new GraphError(`${where} is ${existing}, not ${kind}`);
    k = existing;
  } else {
    if (!kind) throw new GraphError(`${where} does not exist; pass its kind ('int', 'float', 'ints' or 'floats') to create it`);
    k = kind;
  }
  const isList = k === 'ints' || k === 'floats';
  if (Array.isArray(value) !== isList) throw new GraphError(`${where} is ${k}: pass ${isList ? 'an array' : 'a single number'}`);
  const values = Array.isArray(value) ? value : [value];
  if ((k === 'int' || k === 'ints') && !values.every(Number.isSafeInteger)) throw new GraphError(`${where} is ${k}: ${JSON.stringify(value)} is not integral`);

  if (at >= 0) {
    const old = attrs[at]!;
    const current: number[] =
      k === 'int' ? [toNumber(old.i)] : k === 'float' ? [old.f ?? 0] : k === 'ints' ? (old.ints ?? []).map((v) => toNumber(v)) : [...(old.floats ?? [])];
    // floats are stored as float32: compare after rounding
    const same = current.length === values.length && current.every((c, i) => (k === 'float' || k === 'floats' ? Math.fround(values[i]!) === Math.fround(c) : values[i] === c));
    if (same) return { modified: false };
  }
  const attr: AttributeProto = { name, type: TYPE_CODE[k] };
  if (k === 'int') attr.i = values[0]!;
  else if (k === 'float') attr.f = values[0]!;
  else if (k === 'ints') attr.ints = values;
  else attr.floats = values;
  node.attribute = at >= 0 ? attrs.map((a, i) => (i === at ? attr : a)) : [...attrs, attr];
  return { modified: true };
}
