/**
 * Gated MLP: s = φ(x W_gate) * (x W_up), out = s W_down; φ = silu (SwiGLU: LLaMA, Mistral, Qwen, Phi-3)
 * or gelu in its tanh form (GeGLU: Gemma).
 */
import type { GraphIndex, NodeProto } from '@llm-bip/onnx-io';
import { PatternNotFound } from './errors.js';
import { matchLinear, projectionsOf, type MatchedLinear } from './linear.js';
import type { MlpActivation } from '../hf/families.js';
import type { ShapeUse } from '../spec.js';
import { ancestors, attrString, descendants, isOp, nodeLabel, source, usesThrough } from './walk.js';

export const MLP_PATTERN = 'gated MLP (gate MatMul -> silu or gelu, up MatMul, Mul -> down MatMul)';

export interface MatchedMlp {
  gate: MatchedLinear;
  up: MatchedLinear;
  down: MatchedLinear;
  /** s = φ(g) * u */
  act: string;
  /** φ */
  activation: MlpActivation;
  /** constant slice bounds / split sizes of a fused gate_up projection (ffnWidth) */
  shapeUses: ShapeUse[];
  nodes: Set<NodeProto>;
}

/**
 * The activation φ between the gate projection's output `g` and the tensor `a` = φ(g) that meets up:
 * the nodes on the paths from g to a say which φ it is. silu: Sigmoid (Mul(g, Sigmoid(g)), or one
 * SiLU/Swish op); gelu in its tanh form (Gemma's gelu_pytorch_tanh): Tanh, or Gelu(approximate="tanh").
 * Exact gelu (Erf) is named as unsupported rather than scored with the wrong derivative.
 */
function activationBetween(ix: GraphIndex, g: string, a: string): MlpActivation | 'erf' | undefined {
  if (source(ix, a) === source(ix, g)) return undefined;
  const before = ancestors(ix, [a], new Set([g]), 64);
  const onPath = [...descendants(ix, [g], (n) => !before.has(n), 64)];
  const ops = new Set(onPath.map((n) => n.opType ?? ''));
  const gelu = onPath.find((n) => n.opType === 'Gelu');
  if (ops.has('Sigmoid') || ops.has('SiLU') || ops.has('Swish')) return 'silu';
  if (ops.has('Tanh') || (gelu && attrString(gelu, 'approximate') === 'tanh') || ops.has('FastGelu')) return 'gelu_tanh';
  if (ops.has('Erf') || gelu) return 'erf';
  return undefined;
}

export function matchMlp(ix: GraphIndex, xn: string): MatchedMlp {
  const projs = projectionsOf(ix, xn);
  const stoppedAt = nodeLabel(ix.producer(xn)?.node) ?? xn;
  if (projs.length < 2) throw new PatternNotFound(`${MLP_PATTERN}: two projections of the normed input`, stoppedAt);
  const isProjection = (n: NodeProto) => matchLinear(ix, n) !== undefined;
  for (const gate of projs) {
    const gs = source(ix, gate.output);
    // Mul nodes reachable from the gate before any projection: one of them multiplies φ(g) by up
    const reach = [...descendants(ix, [gate.output], isProjection, 64)].filter((n) => isOp(n, 'Mul'));
    for (const up of projs) {
      if (up === gate) continue;
      const us = source(ix, up.output);
      for (const mul of reach) {
        const ins = mul.input ?? [];
        const upSlot = ins.findIndex((i) => i && source(ix, i) === us);
        if (upSlot < 0 || ins.length !== 2) continue;
        const a = ins[1 - upSlot]!;
        if (source(ix, a) === gs) continue;
        const activation = activationBetween(ix, gate.output, a);
        if (activation === 'erf') throw new PatternNotFound(`${MLP_PATTERN}: an activation llm-bip scores (silu or tanh gelu; this MLP uses exact gelu, Erf)`, nodeLabel(mul));
        if (!activation) continue;
        const act = mul.output![0]!;
        const downNode = usesThrough(ix, act).find((w) => w.input === 0 && matchLinear(ix, w.node));
        if (!downNode) throw new PatternNotFound(`${MLP_PATTERN}: down projection`, nodeLabel(mul));
        const down = matchLinear(ix, downNode.node)!;
        const nodes = new Set<NodeProto>([ix.node(gate.ref.node)!, ix.node(up.ref.node)!, ix.producer(a)!.node, mul, downNode.node]);
        const shapeUses: ShapeUse[] = [];
        for (const b of [...(gate.bounds ?? []), ...(up.bounds ?? [])]) {
          if (b.value !== gate.outFeatures) throw new PatternNotFound(`${MLP_PATTERN}: fused gate/up slices at the FFN width ${gate.outFeatures} (${b.node} has ${b.value})`, b.node);
          shapeUses.push({ node: b.node, input: b.input, element: b.element, role: 'ffnWidth' });
        }
        return { gate, up, down, act, activation, nodes, shapeUses };
      }
    }
  }
  throw new PatternNotFound(`${MLP_PATTERN}: silu or gelu after one projection, multiplied by the other`, nodeLabel(ix.node(projs[0]!.ref.node)) ?? stoppedAt);
}
