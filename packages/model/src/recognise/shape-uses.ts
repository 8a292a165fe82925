/**
 * ShapeUses of one decomposed attention block: every constant element that encodes a head count, a
 * width or the GQA repeat factor, found by position (which axis of which tensor the element sizes),
 * then a completeness check: any other integer constant in the block whose value equals one of those
 * quantities, and that is not an axis index or a head_dim-sized bound, makes the recogniser give up
 * rather than hand surgery an incomplete list.
 */
import type { GraphIndex, NodeProto } from '@llm-bip/onnx-io';
import type { ShapeUse } from '../spec.js';
import { PatternNotFound } from './errors.js';
import { dimensionSource, shapeElements, type ShapeElement } from './shape-elements.js';
import { attrInt, constInts, isOp, nodeLabel, source } from './walk.js';

export type PathTag = 'q' | 'kv' | 'ctx';

export interface ShapeScan {
  ix: GraphIndex;
  core: Set<NodeProto>;
  /** which projection path a core tensor lies on */
  tagsOf: (tensor: string) => Set<PathTag>;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  layer: number;
}

/** Input slots that hold sizes of the data tensor (the others of these ops hold axes or steps). */
const SIZE_SLOTS: Record<string, number[]> = { Reshape: [1], Expand: [1], Tile: [1], Slice: [1, 2], Split: [1], ConstantOfShape: [0], Pad: [1] };
/** Input slots that hold axis indices, never sizes. */
const AXIS_SLOTS: Record<string, number[]> = {
  Unsqueeze: [1],
  Squeeze: [1],
  Slice: [3, 4],
  ReduceMean: [1],
  ReduceSum: [1],
  ReduceMax: [1],
  ReduceMin: [1],
  ReduceProd: [1],
  ReduceL2: [1],
  ReduceSumSquare: [1],
  CumSum: [1],
  Trilu: [1],
};

type Verdict = { role: ShapeUse['role'] } | 'safe' | 'unknown';

const key = (u: { node: string; input: number; element: number }) => `${u.node}|${u.input}|${u.element}`;

function pathOf(tags: Set<PathTag>): PathTag | 'mixed' | undefined {
  if (tags.has('ctx')) return 'ctx';
  if (tags.has('q') && tags.has('kv')) return 'mixed';
  if (tags.has('q')) return 'q';
  if (tags.has('kv')) return 'kv';
  return undefined;
}

export function collectShapeUses(s: ShapeScan): ShapeUse[] {
  const { ix, core, numHeads: H, numKvHeads: KV, headDim: D } = s;
  const nRep = H / KV;
  const qW = H * D;
  const uses: ShapeUse[] = [];
  const explained = new Set<string>();
  const expect: Record<ShapeUse['role'], number> = { numHeads: H, numKvHeads: KV, qWidth: qW, kvWidth: KV * D, qkWidth: (H + KV) * D, ffnWidth: NaN, kvGroupsRepeat: nRep };

  const add = (el: ShapeElement, n: NodeProto, slot: number, p: number, v: Verdict) => {
    if (el.kind !== 'const' || v === 'unknown') return; // unknown positions are left to the value check below
    explained.add(key(el.use));
    if (v === 'safe') return;
    if (el.value === -1 || el.value === 0) return; // inferred / copied dims: nothing to rewrite
    if (el.value !== expect[v.role]) {
      throw new PatternNotFound(
        `consistent ${v.role} constant (element ${p} of ${n.opType} "${n.name}" input ${slot} is ${el.value}, the weights say ${expect[v.role]})`,
        nodeLabel(n),
        `in layer ${s.layer}'s attention`,
      );
    }
    const use: ShapeUse = { ...el.use, role: v.role };
    if (el.use.node !== n.name || el.use.input !== slot) use.shapeOf = { node: n.name ?? '', input: slot, element: p };
    uses.push(use);
  };

  // 1. sizes by position, for every core op that takes a size vector
  for (const n of core) {
    const op = n.opType ?? '';
    for (const slot of SIZE_SLOTS[op] ?? []) {
      if (!n.input?.[slot]) continue;
      const els = shapeElements(ix, n, slot);
      if (!els) continue;
      const path = pathOf(s.tagsOf(n.input[0] ?? ''));
      const fromExpand = isOp(ix.producer(source(ix, n.input[0] ?? ''))?.node, 'Expand');
      els.forEach((el, p) => add(el, n, slot, p, verdict(op, n, slot, p, els.length, path, fromExpand, el)));
    }
  }

  // 2. every other integer constant of the block and of the shape computations feeding it
  const suspicious = new Map<number, string>();
  for (const [role, v] of Object.entries(expect)) if (Number.isFinite(v) && v > 1 && !suspicious.has(v)) suspicious.set(v, role);
  const feeders = shapeFeeders(ix, core);
  for (const n of [...core, ...feeders]) {
    const op = n.opType ?? '';
    (n.input ?? []).forEach((name, slot) => {
      const vals = constInts(ix, name);
      if (!vals || (AXIS_SLOTS[op] ?? []).includes(slot)) return;
      if (op === 'Gather' && slot === 1 && ix.producer(source(ix, n.input?.[0] ?? ''))?.node.opType === 'Shape') return; // index into a shape
      vals.forEach((value, element) => {
        const u = { node: n.name ?? '', input: slot, element };
        if (explained.has(key(u)) || !suspicious.has(value)) return;
        const role = arithmeticRole(s, n, slot, value, nRep);
        if (role === 'safe') return;
        if (role) {
          uses.push({ ...u, role });
          explained.add(key(u));
          return;
        }
        throw new PatternNotFound(
          `meaning of constant ${value} (equal to the layer's ${suspicious.get(value)}) at element ${element} of ${op} "${n.name}" input ${slot}; ` +
            'surgery could not know whether to rewrite it',
          nodeLabel(n),
          `in layer ${s.layer}'s attention`,
        );
      });
    });
  }
  return uses;

  function verdict(op: string, n: NodeProto, slot: number, p: number, len: number, path: ReturnType<typeof pathOf>, fromExpand: boolean, el: ShapeElement): Verdict {
    if (op === 'Slice' || op === 'Split') {
      // rotate_half and similar: bounds along the last (head_dim) axis
      const axes = op === 'Slice' ? constInts(ix, n.input?.[3]) : [attrInt(n, 'axis', 0)!];
      return axes && axes.every((a) => a === -1 || a === 3) ? 'safe' : 'unknown';
    }
    if (op === 'Reshape' && len === 4 && (path === 'q' || path === 'kv')) {
      if (p === 3) return 'safe'; // head_dim
      if (fromExpand && path === 'kv') return p === 1 ? { role: 'numHeads' } : 'safe'; // repeat_kv merge [b, heads, t, d]
      if (p === 2) return { role: path === 'q' ? 'numHeads' : 'numKvHeads' }; // head split [b, s, heads, d]
      return 'safe';
    }
    if (op === 'Reshape' && path === 'ctx' && (len === 3 || len === 2)) return p === len - 1 ? { role: 'qWidth' } : 'safe';
    if ((op === 'Expand' || op === 'Tile') && len === 5 && path === 'kv') {
      // repeat_kv: [b, kv, 1, t, d] -> [b, kv, n_rep, t, d]; a 1 on the kv axis is a broadcast
      // (a 1 stays right whatever the count: a broadcast, or a single head that can only be removed with the layer's attention)
      if (p === 1) return el.kind === 'const' && el.value === 1 ? 'safe' : { role: 'numKvHeads' };
      if (p === 2) return el.kind === 'const' && el.value === 1 ? 'safe' : { role: 'kvGroupsRepeat' };
      return 'safe';
    }
    return 'unknown';
  }
}

/**
 * Integer arithmetic on a dimension read from a shape: x * n_rep on the KV-head axis is the GQA repeat
 * (TorchScript's repeat_kv); arithmetic on the head_dim axis (rotate_half's d / 2) is safe.
 */
function arithmeticRole(s: ShapeScan, n: NodeProto, slot: number, value: number, nRep: number): ShapeUse['role'] | 'safe' | undefined {
  if (!['Mul', 'Div'].includes(n.opType ?? '')) return undefined;
  const other = n.input?.[1 - slot];
  const dim = other ? dimensionSource(s.ix, other) : undefined;
  if (!dim) return undefined;
  const axis = dim.axis < 0 ? dim.axis + 4 : dim.axis;
  if (axis === 3) return 'safe';
  if (axis === 1 && value === nRep && n.opType === 'Mul' && pathOf(s.tagsOf(dim.tensor)) === 'kv') return 'kvGroupsRepeat';
  return undefined;
}

/** Nodes computing the size inputs of core nodes (stopping at Shape, whose input is data). */
function shapeFeeders(ix: GraphIndex, core: Set<NodeProto>): Set<NodeProto> {
  const out = new Set<NodeProto>();
  const queue: string[] = [];
  for (const n of core) {
    for (const slot of SIZE_SLOTS[n.opType ?? ''] ?? []) if (n.input?.[slot]) queue.push(n.input[slot]!);
  }
  while (queue.length) {
    const t = queue.pop()!;
    const p = ix.producer(t)?.node;
    if (!p || out.has(p) || core.has(p)) continue;
    out.add(p);
    if (p.opType === 'Shape') continue;
    for (const i of p.input ?? []) if (i) queue.push(i);
  }
  return out;
}
