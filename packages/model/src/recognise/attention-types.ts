import type { NodeProto, TensorRef } from '@llm-bip/onnx-io';
import type { AttributeUse, KvCacheRef, LayerSpec, LinearRef, NormRef, ShapeUse } from '../spec.js';

/** What an attention matcher finds in one layer, from the normed input to the o_proj output. */
export interface MatchedAttention {
  q: LinearRef;
  k: LinearRef;
  v: LinearRef;
  o: LinearRef;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  /** z: the tensor o_proj reads */
  context: TensorRef;
  /** o_proj output (after its bias, if any) */
  output: string;
  attention: LayerSpec['attention'];
  shapeUses: ShapeUse[];
  attributeUses: AttributeUse[];
  kvCache?: KvCacheRef;
  /** Qwen3's per-head q/k RMSNorms (one [headDim] gain each) */
  qNorm?: NormRef;
  kNorm?: NormRef;
  /** every node between the projections and o_proj (for completeness checks) */
  core: Set<NodeProto>;
  /** weight storage types of q/k/v/o (ONNX data type codes) */
  weightTypes: number[];
}

export interface LayerQuantities {
  numHeads: number;
  numKvHeads: number;
  headDim: number;
}
