/** Projections: MatMul(x, W) or Gemm(x, W, b), W an initializer possibly behind Cast/Transpose, plus an optional bias Add. */
import type { GraphIndex, NodeProto, TensorProto } from '@llm-bip/onnx-io';
import type { LinearRef } from '../spec.js';
import { attrInt, attrInts, constInts, dimsOf, isOp, usesThrough } from './walk.js';

export interface MatchedLinear {
  ref: LinearRef;
  weightTensor: TensorProto;
  /** output features (the size of weight along outAxis) */
  outFeatures: number;
  inFeatures: number;
  /** the projection's result: the MatMul/Gemm output, or the bias Add's output */
  output: string;
  /** the activation input the projection reads */
  input: string;
  /** the Slice / Split node that takes this projection's columns out of a fused one (Phi-3's qkv_proj, gate_up_proj) */
  via?: string;
  /** constant column bounds or sizes in `via` that surgery must rewrite (interior ones: 0 and the end stay) */
  bounds?: Array<{ node: string; input: number; element: number; value: number; kind: 'bound' | 'size' }>;
}

/** The node standing for a projection in the graph: its slicing node when it is part of a fused one. */
export function projectionNode(p: MatchedLinear): string {
  return p.via ?? p.ref.node;
}

/** Follow W back through Cast and a 2-D Transpose to its initializer; each Transpose flips the out axis. */
function weightBehind(ix: GraphIndex, name: string): { tensor: TensorProto; flipped: boolean } | undefined {
  let cur = name;
  let flipped = false;
  for (let guard = 0; guard < 8; guard++) {
    const init = ix.initializer(cur);
    if (init && !ix.isGraphInput(cur)) return { tensor: init, flipped };
    const p = ix.producer(cur)?.node;
    if (!p || !p.input?.[0]) return undefined;
    if (p.opType === 'Cast' || p.opType === 'Identity') cur = p.input[0];
    else if (p.opType === 'Transpose') {
      const perm = attrInts(p, 'perm');
      if (perm && !(perm.length === 2 && perm[0] === 1 && perm[1] === 0)) return undefined;
      flipped = !flipped;
      cur = p.input[0];
    } else return undefined;
  }
  return undefined;
}

/** The projection computed by `node` (MatMul/Gemm with a 2-D initializer weight), else undefined. */
export function matchLinear(ix: GraphIndex, node: NodeProto): MatchedLinear | undefined {
  const isMatMul = isOp(node, 'MatMul', '');
  const isGemm = isOp(node, 'Gemm', '');
  if (!isMatMul && !isGemm) return undefined;
  const [a, b, c] = node.input ?? [];
  if (!a || !b) return undefined;
  const w = weightBehind(ix, b);
  if (!w) return undefined;
  const dims = dimsOf(w.tensor);
  if (dims.length !== 2) return undefined;
  let outAxis: 0 | 1 = w.flipped ? 0 : 1;
  if (isGemm) {
    if (attrInt(node, 'transA', 0)) return undefined;
    if (attrInt(node, 'transB', 0)) outAxis = outAxis === 1 ? 0 : 1;
  }
  const ref: LinearRef = { node: node.name ?? '', weight: w.tensor.name!, outAxis };
  let output = node.output![0]!;
  const outFeatures = dims[outAxis]!;
  if (isGemm && c) {
    const bias = weightBehindBias(ix, c);
    if (bias) ref.bias = bias.name!;
  } else {
    // bias added right after the MatMul: Add(y, b) with b a 1-D initializer of out_features
    const add = usesThrough(ix, output).find((u) => isOp(u.node, 'Add'));
    const other = add?.node.input?.[1 - add.input];
    const bias = other ? weightBehindBias(ix, other) : undefined;
    if (add && bias && dimsOf(bias).length === 1 && dimsOf(bias)[0] === outFeatures && usesThrough(ix, output).length === 1) {
      ref.bias = bias.name!;
      output = add.node.output![0]!;
    }
  }
  return { ref, weightTensor: w.tensor, outFeatures, inFeatures: dims[1 - outAxis]!, output, input: a };
}

function weightBehindBias(ix: GraphIndex, name: string): TensorProto | undefined {
  const w = weightBehind(ix, name);
  return w && !w.flipped ? w.tensor : undefined;
}

/**
 * Projections that read tensor `x` (through Cast), in graph order. A fused projection whose output is
 * only read by slices of its last axis (torch.onnx exports of Phi-3: qkv_proj, gate_up_proj) counts as
 * one projection per slice, each with its `columns` of the shared weight.
 */
export function projectionsOf(ix: GraphIndex, x: string): MatchedLinear[] {
  const res: MatchedLinear[] = [];
  for (const u of usesThrough(ix, x)) {
    if (u.input !== 0) continue;
    const m = matchLinear(ix, u.node);
    if (m) res.push(...(m.ref.bias ? [m] : (splitFused(ix, m) ?? [m])));
  }
  const at = (p: MatchedLinear) => ix.indexOf(ix.node(projectionNode(p))!);
  return res.sort((p, q) => at(p) - at(q));
}

const INT64_MAX_ISH = 2 ** 62;

/** The column ranges slices of the last axis take out of a fused projection's output, when they tile it. */
function splitFused(ix: GraphIndex, p: MatchedLinear): MatchedLinear[] | undefined {
  const W = p.outFeatures;
  // TorchScript's chunk reads the width through Shape; anything else reading the whole output means it is not split
  const readers = ix.consumers(p.output).filter((u) => !isOp(u.node, 'Shape'));
  if (readers.length === 0 || readers.some((u) => u.input !== 0)) return undefined;
  const lastAxis = (axes: number[] | undefined) => axes !== undefined && axes.length === 1 && (axes[0] === -1 || axes[0] === 2);
  const parts: Array<{ node: NodeProto; output: string; start: number; end: number; bounds: NonNullable<MatchedLinear['bounds']> }> = [];

  if (readers.length === 1 && isOp(readers[0]!.node, 'Split')) {
    const split = readers[0]!.node;
    if (!lastAxis([attrInt(split, 'axis', 0)!])) return undefined;
    const outs = split.output ?? [];
    const sizesInput = split.input?.[1] ? constInts(ix, split.input[1]) : undefined;
    const sizes = sizesInput ?? attrInts(split, 'split') ?? outs.map(() => W / outs.length);
    if (sizes.length !== outs.length || sizes.some((n) => !Number.isInteger(n) || n <= 0)) return undefined;
    let start = 0;
    sizes.forEach((n, i) => {
      parts.push({ node: split, output: outs[i]!, start, end: start + n, bounds: sizesInput ? [{ node: split.name ?? '', input: 1, element: i, value: n, kind: 'size' }] : [] });
      start += n;
    });
  } else {
    if (!readers.every((u) => isOp(u.node, 'Slice'))) return undefined;
    const slices = readers.map((u) => u.node);
    for (const sl of slices) {
      const [, startsIn, endsIn, axesIn, stepsIn] = sl.input ?? [];
      if (!lastAxis(constInts(ix, axesIn)) || (stepsIn && constInts(ix, stepsIn)?.[0] !== 1)) return undefined;
      const clamp = (v: number) => (v < 0 ? Math.max(0, W + v) : Math.min(v, W));
      const s0 = constInts(ix, startsIn)?.[0];
      const e0 = constInts(ix, endsIn)?.[0];
      const bounds: NonNullable<MatchedLinear['bounds']> = [];
      for (const [slot, v] of [[1, s0], [2, e0]] as const) if (v !== undefined && v > 0 && v < W) bounds.push({ node: sl.name ?? '', input: slot, element: 0, value: v, kind: 'bound' });
      parts.push({ node: sl, output: sl.output![0]!, start: s0 === undefined ? NaN : clamp(s0), end: e0 === undefined || e0 >= INT64_MAX_ISH ? (e0 === undefined ? NaN : W) : clamp(e0), bounds });
    }
    // torch.chunk(2) in TorchScript: the bounds are computed from the width (Shape -> Div -> Mul); the first
    // slice starts at 0 and the second starts where the first ends: halves
    if (parts.length === 2 && parts[0]!.start === 0 && Number.isNaN(parts[0]!.end) && parts[1]!.node.input?.[1] === parts[0]!.node.input?.[2] && W % 2 === 0) {
      parts[0]!.end = W / 2;
      parts[1]!.start = W / 2;
      parts[1]!.end = W;
    }
  }
  parts.sort((a, b) => a.start - b.start);
  // the slices must tile [0, W) exactly, else this is not a fused projection llm-bip can cut
  let at = 0;
  for (const q of parts) {
    if (!(q.start === at && q.end > q.start)) return undefined;
    at = q.end;
  }
  if (at !== W || parts.length < 2) return undefined;
  return parts.map((q) => ({
    ...p,
    ref: { ...p.ref, columns: { start: q.start, end: q.end } },
    outFeatures: q.end - q.start,
    output: q.output,
    via: q.node.name ?? '',
    bounds: q.bounds,
  }));
}
