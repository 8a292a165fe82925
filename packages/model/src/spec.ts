/**
 * ModelSpec: the block map of a LLaMA-family decoder, recognised from an ONNX graph.
 * Everything downstream (scoring, surgery, eval) works on this, never on exporter-specific names.
 * It is plain JSON: print it, save it, diff it.
 *
 * Conventions
 * - Heads are indexed as in the HF weights: query head h owns q columns [h*headDim, (h+1)*headDim),
 *   o_proj input rows in the same range; KV head g owns k/v columns [g*headDim, (g+1)*headDim).
 *   Under GQA, query head h belongs to KV group floor(h / (numHeads / numKvHeads)).
 * - A LinearRef names the initializer that holds the weight and which of its axes indexes output
 *   features. For ONNX MatMul(x, W) with W an initializer, W is [in, out] and outAxis = 1.
 * - A TensorRef (onnx-io) names a tensor in the graph, or the node and output slot of an unnamed one.
 */
import type { TensorRef } from '@llm-bip/onnx-io';
import type { Family, MlpActivation } from './hf/families.js';

export interface LinearRef {
  /** the MatMul / Gemm node that applies this projection */
  node: string;
  /** initializer holding the weight */
  weight: string;
  /** axis of `weight` that indexes output features (1 for MatMul [in, out]; 0 for Gemm transB=1 [out, in]) */
  outAxis: 0 | 1;
  /** output-feature range inside `weight` when several projections are fused (genai qkv_proj) */
  columns?: { start: number; end: number };
  /** bias initializer, when the projection has one (added after the MatMul, or Gemm's C) */
  bias?: string;
}

export interface NormRef {
  /** gamma initializer */
  weight: string;
  /** tensor entering the norm (the residual stream) */
  input: TensorRef;
  /** normalised tensor leaving the norm */
  output: TensorRef;
  epsilon: number;
  /** the node computing it when the norm is one fused op (SimplifiedLayerNormalization, ...) */
  node?: string;
  /** the gain is (offset + weight) (Gemma's RMSNorm: 1); absent means 0, the gain is the weight */
  offset?: number;
}

/** A constant element that encodes a head count or a width, and must change when the layer is pruned. */
export interface ShapeUse {
  /** node that consumes the constant (Reshape, Concat, Expand, Slice, ...) */
  node: string;
  /** input slot of `node` fed by the constant (an initializer or a Constant node's output) */
  input: number;
  /** element index inside the constant's 1-D value */
  element: number;
  /** which quantity the element holds; surgery writes the pruned value (qkWidth: q width + kv width, where a fused q/k/v output is sliced) */
  role: 'numHeads' | 'numKvHeads' | 'qWidth' | 'kvWidth' | 'qkWidth' | 'ffnWidth' | 'kvGroupsRepeat';
  /**
   * Set when `node` is an intermediate (a Concat building a shape from pieces) rather than the op that
   * uses the shape: the Reshape/Expand whose shape input this element ends up in, and its position there.
   * Exporters share such Concats between layers (dynamo), so surgery must give the op its own copy.
   */
  shapeOf?: { node: string; input: number; element: number };
}

/** An attribute that encodes a head count (contrib attention ops). */
export interface AttributeUse {
  node: string;
  attribute: string;
  role: 'numHeads' | 'numKvHeads';
}

export interface KvCacheRef {
  pastKey: string;
  pastValue: string;
  presentKey: string;
  presentValue: string;
  /** axis of the cache tensors that indexes KV heads ([batch, kvHeads, seq, headDim] -> 1) */
  headAxis: number;
}

export interface LayerSpec {
  index: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  intermediateSize: number;

  /** x: block input (residual stream) */
  input: TensorRef;
  attnNorm: NormRef;
  q: LinearRef;
  k: LinearRef;
  v: LinearRef;
  o: LinearRef;
  /** z: attention context entering o_proj, [batch, seq, numHeads*headDim], head-major */
  attnContext: TensorRef;
  /** o_proj output, before the residual add */
  attnOutput: TensorRef;
  /**
   * Qwen3's q_norm / k_norm: RMSNorm over head_dim with one [headDim] gain shared by every head, so a
   * head prune never slices it (input/output are the per-head q/k tensors)
   */
  qNorm?: NormRef;
  kNorm?: NormRef;
  /** m = x + attention output: the residual entering the post-attention norm */
  residualMid: TensorRef;
  ffnNorm: NormRef;
  gate: LinearRef;
  up: LinearRef;
  down: LinearRef;
  /** g: gate projection output (pre-activation) */
  gateOut: TensorRef;
  /** u: up projection output */
  upOut: TensorRef;
  /** s = φ(g) * u (φ: ModelSpec.mlpActivation): the gated activation entering down_proj */
  ffnAct: TensorRef;
  /** down_proj output, before the residual add */
  ffnOutput: TensorRef;
  /** y: block output (residual stream after the FFN) */
  output: TensorRef;

  /** how attention is expressed: decomposed standard ops, or one contrib op */
  attention: { kind: 'decomposed' } | { kind: 'group-query-attention'; node: string } | { kind: 'multi-head-attention'; node: string };
  shapeUses: ShapeUse[];
  attributeUses: AttributeUse[];
  kvCache?: KvCacheRef;
}

export type RecogniserName = 'llm-bip-export' | 'torch-onnx' | 'genai-builder';

export interface ModelSpec {
  /** which recogniser matched */
  recogniser: RecogniserName;
  /** what it matched, in words (e.g. "torch.onnx TorchScript exporter, opset 17") */
  flavour: string;
  /** a LLaMA-family decoder (pre-norm blocks, RoPE attention, gated MLP) */
  architecture: 'llama';
  /** the HF model_type, when the model says (our exporter's metadata); torch.onnx graphs do not */
  family?: Family;
  /** φ of the gated MLP: silu (SwiGLU) or gelu in its tanh form (GeGLU, Gemma) */
  mlpActivation: MlpActivation;
  hiddenSize: number;
  vocabSize: number;
  numLayers: number;
  rmsNormEps: number;
  /** storage type of the projection weights */
  weightType: 'float32' | 'float16' | 'bfloat16';
  /** element type of the logits output */
  logitsType: 'float32' | 'float16';
  inputs: { inputIds: string; attentionMask?: string; positionIds?: string };
  logits: string;
  /** the token embedding; `scale` when the graph multiplies it by a constant (Gemma: sqrt(hidden)) */
  embedding: { weight: string; scale?: number };
  finalNorm: NormRef;
  lmHead: LinearRef;
  /** tied input/output embeddings share one initializer */
  tiedEmbeddings: boolean;
  kvCache: boolean;
  layers: LayerSpec[];
}
