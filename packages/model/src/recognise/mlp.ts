/** SwiGLU MLP: s = silu(x W_gate) * (x W_up), out = s W_down; silu as Sigmoid + Mul (or one SiLU-like op). */
import type { GraphIndex, NodeProto } from '@llm-bip/onnx-io';
import { PatternNotFound } from './errors.js';
import { matchLinear, projectionsOf, type MatchedLinear } from './linear.js';
import { isOp, nodeLabel, source, usesThrough } from './walk.js';

export const MLP_PATTERN = 'SwiGLU MLP (gate MatMul -> Sigmoid -> Mul, up MatMul, Mul -> down MatMul)';

export interface MatchedMlp {
  gate: MatchedLinear;
  up: MatchedLinear;
  down: MatchedLinear;
  /** s = silu(g) * u */
  act: string;
  nodes: Set<NodeProto>;
}

/** silu(g): Mul(g, Sigmoid(g)), or a single-op SiLU/Swish; returns the node producing it. */
function siluOf(ix: GraphIndex, g: string): NodeProto | undefined {
  const gs = source(ix, g);
  for (const u of usesThrough(ix, g)) {
    if (isOp(u.node, 'Sigmoid')) {
      const sig = u.node.output![0]!;
      const mul = usesThrough(ix, sig).find((w) => isOp(w.node, 'Mul') && source(ix, w.node.input?.[1 - w.input] ?? '') === gs);
      if (mul) return mul.node;
    }
    if (['SiLU', 'Swish'].includes(u.node.opType ?? '')) return u.node;
  }
  return undefined;
}

export function matchMlp(ix: GraphIndex, xn: string): MatchedMlp {
  const projs = projectionsOf(ix, xn);
  const stoppedAt = nodeLabel(ix.producer(xn)?.node) ?? xn;
  if (projs.length < 2) throw new PatternNotFound(`${MLP_PATTERN}: two projections of the normed input`, stoppedAt);
  for (const gate of projs) {
    const silu = siluOf(ix, gate.output);
    if (!silu) continue;
    for (const up of projs) {
      if (up === gate) continue;
      const us = source(ix, up.output);
      const mul = usesThrough(ix, silu.output![0]!).find((w) => isOp(w.node, 'Mul') && source(ix, w.node.input?.[1 - w.input] ?? '') === us);
      if (!mul) continue;
      const act = mul.node.output![0]!;
      const downNode = usesThrough(ix, act).find((w) => w.input === 0 && matchLinear(ix, w.node));
      if (!downNode) throw new PatternNotFound(`${MLP_PATTERN}: down projection`, nodeLabel(mul.node));
      const down = matchLinear(ix, downNode.node)!;
      const nodes = new Set<NodeProto>([ix.node(gate.ref.node)!, ix.node(up.ref.node)!, silu, mul.node, downNode.node]);
      return { gate, up, down, act, nodes };
    }
    throw new PatternNotFound(`${MLP_PATTERN}: Mul of silu(gate) and up`, nodeLabel(silu));
  }
  throw new PatternNotFound(`${MLP_PATTERN}: silu (Sigmoid -> Mul) after a projection`, nodeLabel(ix.node(projs[0]!.ref.node)) ?? stoppedAt);
}
