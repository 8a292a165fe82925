/** RMSNorm in its three forms: decomposed standard ops, one fused op, or fused with the residual add. */
import type { GraphIndex, NodeProto, TensorRef } from '@llm-bip/onnx-io';
import type { NormRef } from '../spec.js';
import { PatternNotFound } from './errors.js';
import { aliases, attrFloat, constFloat, constInts, initializerThrough, isOp, nodeLabel, outputRef, source, usesThrough } from './walk.js';

export const RMSNORM_PATTERN = 'RMSNorm (Pow -> ReduceMean -> Add -> Sqrt -> Div -> Mul)';

const FUSED_NORMS = ['SimplifiedLayerNormalization', 'RMSNormalization'];

/** One consumer of `t` with this op (through Cast), or undefined. */
function next(ix: GraphIndex, t: string, ops: string[]): NodeProto | undefined {
  return usesThrough(ix, t).find((u) => ops.includes(u.node.opType ?? ''))?.node;
}

function epsilonOf(n: NodeProto): number {
  const e = attrFloat(n, 'epsilon');
  return e === undefined ? 1e-5 : Number(e.toPrecision(7));
}

/**
 * The RMSNorm that reads residual `x` and is not a SkipSimplifiedLayerNormalization (those are found
 * by the residual walk, since they also compute x). Throws PatternNotFound naming the last node matched.
 */
export function matchNormOf(ix: GraphIndex, x: string): NormRef {
  const xs = new Set(aliases(ix, x));
  const uses = usesThrough(ix, x);
  const fused = uses.find((u) => u.input === 0 && FUSED_NORMS.includes(u.node.opType ?? ''));
  if (fused) {
    const gamma = fused.node.input?.[1] ? initializerThrough(ix, fused.node.input[1]) : undefined;
    if (!gamma) throw new PatternNotFound(`${fused.node.opType} scale initializer`, nodeLabel(fused.node));
    return { weight: gamma.name!, input: x, output: outputRef(fused.node, 0), epsilon: epsilonOf(fused.node), node: fused.node.name ?? '' };
  }

  let stopped = nodeLabel(ix.producer(x)?.node) ?? x;
  const fail = (): never => {
    throw new PatternNotFound(RMSNORM_PATTERN, stopped);
  };
  // x^2: Pow(x, 2) or Mul(x, x)
  const square = uses.find(
    (u) =>
      (isOp(u.node, 'Pow') && u.input === 0 && constFloatOrInt(ix, u.node.input?.[1]) === 2) ||
      (isOp(u.node, 'Mul') && xs.has(u.node.input?.[0] ?? '') && xs.has(u.node.input?.[1] ?? '')),
  )?.node;
  if (!square) return fail();
  stopped = nodeLabel(square)!;
  const mean = next(ix, square.output![0]!, ['ReduceMean']);
  if (!mean) return fail();
  stopped = nodeLabel(mean)!;
  const add = next(ix, mean.output![0]!, ['Add']);
  if (!add) return fail();
  stopped = nodeLabel(add)!;
  const epsName = add.input?.find((i) => i && source(ix, i) !== source(ix, mean.output![0]!));
  const epsilon = constFloat(ix, epsName);
  if (epsilon === undefined) return fail();
  const sqrt = next(ix, add.output![0]!, ['Sqrt']);
  if (!sqrt) return fail();
  stopped = nodeLabel(sqrt)!;
  // 1/rms: Reciprocal, or Div(1, rms); then x * (1/rms). Or Div(x, rms) directly.
  let normed: NodeProto | undefined;
  for (const u of usesThrough(ix, sqrt.output![0]!)) {
    if (isOp(u.node, 'Div') && u.input === 1 && xs.has(u.node.input?.[0] ?? '')) normed = u.node;
    else if (isOp(u.node, 'Reciprocal') || (isOp(u.node, 'Div') && u.input === 1 && constFloat(ix, u.node.input?.[0]) === 1)) {
      stopped = nodeLabel(u.node)!;
      const inv = u.node.output![0]!;
      normed = usesThrough(ix, inv).find((w) => isOp(w.node, 'Mul') && xs.has(w.node.input?.[1 - w.input] ?? ''))?.node;
    }
    if (normed) break;
  }
  if (!normed) return fail();
  stopped = nodeLabel(normed)!;
  for (const u of usesThrough(ix, normed.output![0]!)) {
    if (!isOp(u.node, 'Mul')) continue;
    const gain = gainOf(ix, u.node.input?.[1 - u.input] ?? '');
    if (gain) return { weight: gain.weight, input: x, output: outputRef(u.node, 0), epsilon, ...(gain.offset !== 0 ? { offset: gain.offset } : {}) };
  }
  return fail();
}

/** The norm's gain: an initializer w, or Add(w, c) with c a scalar constant (Gemma's 1 + w). */
function gainOf(ix: GraphIndex, t: string): { weight: string; offset: number } | undefined {
  const direct = initializerThrough(ix, t);
  if (direct) return { weight: direct.name!, offset: 0 };
  const add = ix.producer(source(ix, t))?.node;
  if (!add || !isOp(add, 'Add') || add.input?.length !== 2) return undefined;
  for (const slot of [0, 1]) {
    const w = initializerThrough(ix, add.input[slot] ?? '');
    const c = constFloatOrInt(ix, add.input[1 - slot]);
    // a 1-element constant beside a [width] initializer; the gain itself is never a scalar
    if (w && c !== undefined && (w.dims ?? []).length === 1 && ix.constantTensor(source(ix, add.input[1 - slot]!))?.dims?.every((d) => Number(d) === 1)) {
      return { weight: w.name!, offset: c };
    }
  }
  return undefined;
}

function constFloatOrInt(ix: GraphIndex, name: string | undefined | null): number | undefined {
  return constFloat(ix, name) ?? constInts(ix, name)?.[0];
}

/**
 * How the residual `r` and a branch output `b` are summed: a plain Add (the sum is a tensor; the next
 * norm is found separately) or SkipSimplifiedLayerNormalization (output 3 is the sum, output 0 its norm).
 */
export function matchResidualAdd(
  ix: GraphIndex,
  r: TensorRef,
  b: string,
): { sum: TensorRef; fusedNorm?: NormRef; node: NodeProto } {
  const rs = typeof r === 'string' ? source(ix, r) : undefined;
  for (const u of usesThrough(ix, b)) {
    const n = u.node;
    const other = n.input?.[1 - u.input];
    if (isOp(n, 'Add') && (u.input === 0 || u.input === 1) && other && rs !== undefined && source(ix, other) === rs) {
      return { sum: n.output![0]!, node: n };
    }
    if (isOp(n, 'SkipSimplifiedLayerNormalization') && (u.input === 0 || u.input === 1)) {
      const otherIsR = typeof r === 'string' ? other !== undefined && source(ix, other!) === rs : false;
      if (!otherIsR) continue;
      const gamma = n.input?.[2] ? initializerThrough(ix, n.input[2]) : undefined;
      if (!gamma) throw new PatternNotFound('SkipSimplifiedLayerNormalization gamma initializer', nodeLabel(n));
      const sum = outputRef(n, 3);
      return { sum, node: n, fusedNorm: { weight: gamma.name!, input: sum, output: outputRef(n, 0), epsilon: epsilonOf(n), node: n.name ?? '' } };
    }
  }
  const at = ix.producer(b)?.node;
  throw new PatternNotFound('residual Add (or SkipSimplifiedLayerNormalization) of the block input and the branch output', nodeLabel(at) ?? b);
}
