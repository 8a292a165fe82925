/**
 * The decoder walk shared by all recognisers: embedding Gather -> per layer (norm, attention, residual
 * add, norm, SwiGLU MLP, residual add) -> final norm -> lm_head -> logits. Attention is matched by the
 * decomposed or the contrib matcher, whichever the projections lead to.
 */
import { type GraphIndex, DataType, type TensorRef } from '@llm-bip/onnx-io';
import type { LayerSpec, ModelSpec, NormRef } from '../spec.js';
import { matchContribAttention, usesContribAttention } from './attention-contrib.js';
import { matchDecomposedAttention } from './attention-decomposed.js';
import type { MatchedAttention } from './attention-types.js';
import { PatternNotFound } from './errors.js';
import { projectionsOf, type MatchedLinear } from './linear.js';
import { matchMlp } from './mlp.js';
import { matchNormOf, matchResidualAdd } from './norm.js';
import { aliases, dimsOf, elemTypeOf, initializerThrough, isOp, nodeLabel, source } from './walk.js';

export type DecoderWalk = Omit<ModelSpec, 'recogniser' | 'flavour'> & { contribAttention: boolean };

const MAX_LAYERS = 1024;

function weightTypeName(dt: number, what: string): ModelSpec['weightType'] {
  if (dt === DataType.FLOAT) return 'float32';
  if (dt === DataType.FLOAT16) return 'float16';
  if (dt === DataType.BFLOAT16) return 'bfloat16';
  throw new PatternNotFound(`float32/float16/bfloat16 weights (${what} has ONNX data type ${dt}; quantised weights are not supported)`, undefined);
}

function within<T>(context: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof PatternNotFound) throw e.within(context);
    throw e;
  }
}

function nameOf(ref: TensorRef, what: string): string {
  if (typeof ref === 'string') return ref;
  throw new PatternNotFound(`a named ${what}`, ref.node);
}

/** lm_head: the projection of the final normed tensor whose result is the logits graph output (maybe via Cast). */
function lmHeadOf(ix: GraphIndex, projs: MatchedLinear[]): { p: MatchedLinear; logits: string } | undefined {
  for (const p of projs) {
    const out = aliases(ix, p.output).find((t) => ix.isGraphOutput(t));
    if (out) return { p, logits: out };
  }
  return undefined;
}

export function walkDecoder(ix: GraphIndex): DecoderWalk {
  // the spec names nodes: they must be named, and uniquely
  const seen = new Set<string>();
  for (const n of ix.nodes) {
    const name = n.name ?? '';
    if (!name || seen.has(name)) {
      throw new PatternNotFound(`unique node names (a ModelSpec refers to nodes by name; ${name ? `"${name}" is used twice` : `a ${n.opType} node has none`})`, name || nodeLabel(n));
    }
    seen.add(name);
  }
  // token embedding: Gather(W [vocab, hidden], input_ids)
  const embedNode = ix.nodes.find((n) => {
    if (!isOp(n, 'Gather', '') || !n.input?.[0] || !n.input[1]) return false;
    const w = initializerThrough(ix, n.input[0]);
    return w !== undefined && dimsOf(w).length === 2 && ix.isGraphInput(source(ix, n.input[1]));
  });
  if (!embedNode) throw new PatternNotFound('token embedding (Gather of a [vocab, hidden] initializer by the input ids)', ix.nodes[0]?.name ?? undefined);
  const embedW = initializerThrough(ix, embedNode.input![0]!)!;
  const [vocabSize, hiddenSize] = dimsOf(embedW) as [number, number];
  const inputIds = source(ix, embedNode.input![1]!);

  let x: TensorRef = embedNode.output![0]!;
  let pendingNorm: NormRef | undefined;
  const layers: LayerSpec[] = [];
  const weightTypes: number[] = [];
  let contribAttention = false;

  for (let i = 0; i <= MAX_LAYERS; i++) {
    const attnNorm = pendingNorm ?? within(`feeding layer ${i}'s attention`, () => matchNormOf(ix, nameOf(x, `layer ${i} input`)));
    const xn = within(`after layer ${i}'s input norm`, () => nameOf(attnNorm.output, 'norm output'));
    const projs = projectionsOf(ix, xn);
    const head = lmHeadOf(ix, projs);
    if (head) {
      if (layers.length === 0) throw new PatternNotFound('decoder layer before the lm_head', head.p.ref.node);
      const lm = head.p;
      const logitsType = elemTypeOf(ix, head.logits);
      return {
        architecture: 'llama',
        hiddenSize,
        vocabSize,
        numLayers: layers.length,
        rmsNormEps: layers[0]!.attnNorm.epsilon,
        weightType: majorityType(weightTypes),
        logitsType: logitsType === DataType.FLOAT16 ? 'float16' : 'float32',
        inputs: {
          inputIds,
          ...(ix.isGraphInput('attention_mask') ? { attentionMask: 'attention_mask' } : {}),
          ...(ix.isGraphInput('position_ids') ? { positionIds: 'position_ids' } : {}),
        },
        logits: head.logits,
        embedding: { weight: embedW.name! },
        finalNorm: attnNorm,
        lmHead: lm.ref,
        tiedEmbeddings: lm.ref.weight === embedW.name,
        kvCache: layers.some((l) => l.kvCache !== undefined),
        layers,
        contribAttention,
      };
    }
    if (projs.length === 0) {
      throw new PatternNotFound('attention projections (MatMul/Gemm with initializer weights) after the norm', nodeLabel(ix.producer(xn)?.node) ?? xn, `of layer ${i}`);
    }
    const contrib = usesContribAttention(ix, projs);
    contribAttention ||= contrib;
    const att: MatchedAttention = contrib ? matchContribAttention(ix, xn, projs, i) : matchDecomposedAttention(ix, xn, projs, i);
    weightTypes.push(...att.weightTypes);

    const mid = within(`after layer ${i}'s attention`, () => matchResidualAdd(ix, x, att.output));
    const ffnNorm = mid.fusedNorm ?? within(`feeding layer ${i}'s MLP`, () => matchNormOf(ix, nameOf(mid.sum, `layer ${i} residual`)));
    const mlp = within(`in layer ${i}'s MLP`, () => matchMlp(ix, nameOf(ffnNorm.output, 'norm output')));
    weightTypes.push(...[mlp.gate, mlp.up, mlp.down].map((p) => p.weightTensor.dataType ?? 0));
    const out = within(`after layer ${i}'s MLP`, () => matchResidualAdd(ix, mid.sum, mlp.down.output));
    checkFfnConstants(ix, mlp.nodes, mlp.gate.outFeatures, i);

    layers.push({
      index: i,
      numHeads: att.numHeads,
      numKvHeads: att.numKvHeads,
      headDim: att.headDim,
      intermediateSize: mlp.gate.outFeatures,
      input: x,
      attnNorm,
      q: att.q,
      k: att.k,
      v: att.v,
      o: att.o,
      attnContext: att.context,
      attnOutput: att.output,
      residualMid: mid.sum,
      ffnNorm,
      gate: mlp.gate.ref,
      up: mlp.up.ref,
      down: mlp.down.ref,
      gateOut: mlp.gate.output,
      upOut: mlp.up.output,
      ffnAct: mlp.act,
      ffnOutput: mlp.down.output,
      output: out.sum,
      attention: att.attention,
      shapeUses: att.shapeUses,
      attributeUses: att.attributeUses,
      ...(att.kvCache ? { kvCache: att.kvCache } : {}),
    });
    x = out.sum;
    pendingNorm = out.fusedNorm;
  }
  throw new PatternNotFound(`lm_head within ${MAX_LAYERS} layers`, undefined);
}

function majorityType(types: number[]): ModelSpec['weightType'] {
  const count = new Map<number, number>();
  for (const t of types) count.set(t, (count.get(t) ?? 0) + 1);
  const [best] = [...count.entries()].sort((a, b) => b[1] - a[1])[0] ?? [DataType.FLOAT];
  return weightTypeName(best, 'the projection weights');
}

/** The MLP has no shape constants in LLaMA; one equal to the FFN width would be a reshape surgery cannot see. */
function checkFfnConstants(ix: GraphIndex, nodes: Iterable<import('@llm-bip/onnx-io').NodeProto>, width: number, layer: number): void {
  for (const n of nodes) {
    for (const [slot, name] of (n.input ?? []).entries()) {
      const t = name ? ix.constantTensor(name) : undefined;
      if (!t || (t.dataType !== DataType.INT64 && t.dataType !== DataType.INT32)) continue;
      if (dimsOf(t).length <= 1 && !ix.initializer(name!)?.externalData?.length) {
        throw new PatternNotFound(`MLP without integer shape constants (input ${slot} of ${n.opType} "${n.name}" is one)`, nodeLabel(n), `in layer ${layer}'s MLP (FFN width ${width})`);
      }
    }
  }
}
