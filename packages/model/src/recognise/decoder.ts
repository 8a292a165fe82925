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
import type { MlpActivation } from '../hf/families.js';
import { aliases, constFloat, dimsOf, elemTypeOf, initializerThrough, isOp, nodeLabel, source, usesThrough } from './walk.js';

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
  const scaled = embeddingScale(ix, embedNode.output![0]!);

  let x: TensorRef = scaled?.output ?? embedNode.output![0]!;
  let pendingNorm: NormRef | undefined;
  const layers: LayerSpec[] = [];
  const weightTypes: number[] = [];
  const activations = new Set<MlpActivation>();
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
        mlpActivation: mixedActivations(activations),
        embedding: { weight: embedW.name!, ...(scaled ? { scale: scaled.scale } : {}) },
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

    const mid = within(`after layer ${i}'s attention`, () => {
      refuseSandwichNorm(ix, att.output, 'attention');
      return matchResidualAdd(ix, x, att.output);
    });
    const ffnNorm = mid.fusedNorm ?? within(`feeding layer ${i}'s MLP`, () => matchNormOf(ix, nameOf(mid.sum, `layer ${i} residual`)));
    const mlp = within(`in layer ${i}'s MLP`, () => matchMlp(ix, nameOf(ffnNorm.output, 'norm output')));
    weightTypes.push(...[mlp.gate, mlp.up, mlp.down].map((p) => p.weightTensor.dataType ?? 0));
    activations.add(mlp.activation);
    const out = within(`after layer ${i}'s MLP`, () => {
      refuseSandwichNorm(ix, mlp.down.output, 'MLP');
      return matchResidualAdd(ix, mid.sum, mlp.down.output);
    });
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
      ...(att.qNorm ? { qNorm: att.qNorm } : {}),
      ...(att.kNorm ? { kNorm: att.kNorm } : {}),
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
      shapeUses: [...att.shapeUses, ...mlp.shapeUses],
      attributeUses: att.attributeUses,
      ...(att.kvCache ? { kvCache: att.kvCache } : {}),
    });
    x = out.sum;
    pendingNorm = out.fusedNorm;
  }
  throw new PatternNotFound(`lm_head within ${MAX_LAYERS} layers`, undefined);
}

/**
 * Gemma 2/3 normalise the branch output before the residual add (sandwich norms): the LLM-BIP bound
 * and surgery's compensation assume the branch output is added as it is, so such graphs are named, not
 * half-matched.
 */
function refuseSandwichNorm(ix: GraphIndex, branch: string, what: string): void {
  let norm: NormRef | undefined;
  try {
    norm = matchNormOf(ix, branch);
  } catch (e) {
    if (!(e instanceof PatternNotFound)) throw e;
  }
  if (norm) {
    throw new PatternNotFound(
      `residual Add of the ${what} output: the output is RMS-normalised first (a sandwich norm, as in Gemma 2 / Gemma 3), which llm-bip does not support`,
      nodeLabel(ix.producer(branch)?.node) ?? branch,
    );
  }
}

/** Gemma multiplies the embedding by sqrt(hidden): a Mul by a scalar constant right after the Gather. */
function embeddingScale(ix: GraphIndex, embedded: string): { output: string; scale: number } | undefined {
  const uses = usesThrough(ix, embedded);
  if (uses.length !== 1 || !isOp(uses[0]!.node, 'Mul')) return undefined;
  const mul = uses[0]!.node;
  const other = mul.input?.[1 - uses[0]!.input];
  const t = other ? ix.constantTensor(source(ix, other)) : undefined;
  if (!t || dimsOf(t).reduce((a, b) => a * b, 1) !== 1) return undefined;
  const scale = constFloat(ix, other);
  return scale === undefined ? undefined : { output: mul.output![0]!, scale };
}

function mixedActivations(seen: Set<MlpActivation>): MlpActivation {
  if (seen.size !== 1) throw new PatternNotFound(`one MLP activation in every layer (found ${[...seen].join(' and ')})`, undefined);
  return [...seen][0]!;
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
