/** Projections: MatMul(x, W) or Gemm(x, W, b), W an initializer possibly behind Cast/Transpose, plus an optional bias Add. */
import type { GraphIndex, NodeProto, TensorProto } from '@llm-bip/onnx-io';
import type { LinearRef } from '../spec.js';
import { attrInt, attrInts, dimsOf, isOp, usesThrough } from './walk.js';

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

/** Projections that read tensor `x` (through Cast), in graph order. */
export function projectionsOf(ix: GraphIndex, x: string): MatchedLinear[] {
  const res: MatchedLinear[] = [];
  for (const u of usesThrough(ix, x)) {
    if (u.input !== 0) continue;
    const m = matchLinear(ix, u.node);
    if (m) res.push(m);
  }
  return res.sort((p, q) => ix.indexOf(ix.node(p.ref.node)!) - ix.indexOf(ix.node(q.ref.node)!));
}
