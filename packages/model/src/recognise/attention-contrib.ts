/**
 * Attention as one onnxruntime contrib op (onnxruntime-genai model builder): GroupQueryAttention with
 * num_heads / kv_num_heads, fed by a fused qkv_proj MatMul (packed q|k|v columns) or by separate
 * q/k/v MatMuls, optionally through RotaryEmbedding nodes; or MultiHeadAttention with num_heads.
 */
import type { GraphIndex, NodeProto } from '@llm-bip/onnx-io';
import type { AttributeUse, KvCacheRef, LinearRef } from '../spec.js';
import { PatternNotFound } from './errors.js';
import type { MatchedAttention } from './attention-types.js';
import { headAxisOf } from './kv-cache.js';
import { matchLinear, type MatchedLinear } from './linear.js';
import { attrInt, nodeLabel, source, usesThrough } from './walk.js';

export const CONTRIB_ATTENTION_PATTERN = 'contrib attention (qkv MatMul -> GroupQueryAttention/MultiHeadAttention -> o_proj MatMul)';
const ATTENTION_OPS = ['GroupQueryAttention', 'MultiHeadAttention'];

/** The contrib attention op a projection output flows into (through RotaryEmbedding/Cast), with its input slot. */
function attentionAfter(ix: GraphIndex, t: string, chain: NodeProto[] = []): { node: NodeProto; slot: number; via: NodeProto[] } | undefined {
  for (const u of usesThrough(ix, t)) {
    if (ATTENTION_OPS.includes(u.node.opType ?? '')) return { node: u.node, slot: u.input, via: chain };
    if (u.node.opType === 'RotaryEmbedding' && u.input === 0) {
      const r = attentionAfter(ix, u.node.output![0]!, [...chain, u.node]);
      if (r) return r;
    }
  }
  return undefined;
}

export function usesContribAttention(ix: GraphIndex, projs: MatchedLinear[]): boolean {
  return projs.some((p) => attentionAfter(ix, p.output) !== undefined);
}

export function matchContribAttention(ix: GraphIndex, xn: string, projs: MatchedLinear[], layer: number): MatchedAttention {
  const where = `in layer ${layer}'s attention`;
  const fail = (what: string, at: NodeProto | undefined): never => {
    throw new PatternNotFound(`${CONTRIB_ATTENTION_PATTERN}: ${what}`, nodeLabel(at) ?? xn, where);
  };
  const hits = projs.map((p) => ({ p, a: attentionAfter(ix, p.output) })).filter((h) => h.a);
  if (!hits.length) return fail('GroupQueryAttention or MultiHeadAttention fed by the projections', ix.producer(xn)?.node);
  const attn = hits[0]!.a!.node;
  const isGqa = attn.opType === 'GroupQueryAttention';
  const numHeads = attrInt(attn, 'num_heads');
  if (!numHeads) return fail(`num_heads attribute on ${attn.opType}`, attn);
  const numKvHeads = isGqa ? attrInt(attn, 'kv_num_heads') : numHeads;
  if (!numKvHeads) return fail('kv_num_heads attribute on GroupQueryAttention', attn);
  const attributeUses: AttributeUse[] = [{ node: attn.name ?? '', attribute: 'num_heads', role: 'numHeads' }];
  if (isGqa) attributeUses.push({ node: attn.name ?? '', attribute: 'kv_num_heads', role: 'numKvHeads' });

  let q: LinearRef, k: LinearRef, v: LinearRef, headDim: number;
  const weightTypes: number[] = [];
  const inputsUsed = (attn.input ?? []).slice(0, 3).filter(Boolean).length;
  if (hits.length === 1 && inputsUsed === 1) {
    // packed q|k|v columns
    const { p } = hits[0]!;
    const total = p.outFeatures;
    headDim = total / (numHeads + 2 * numKvHeads);
    if (!Number.isInteger(headDim)) return fail(`packed qkv width ${total} divisible by num_heads + 2 * kv_num_heads`, attn);
    const qW = numHeads * headDim;
    const kvW = numKvHeads * headDim;
    q = { ...p.ref, columns: { start: 0, end: qW } };
    k = { ...p.ref, columns: { start: qW, end: qW + kvW } };
    v = { ...p.ref, columns: { start: qW + kvW, end: total } };
    if (p.ref.bias) for (const r of [q, k, v]) r.bias = p.ref.bias;
    weightTypes.push(p.weightTensor.dataType ?? 0);
  } else {
    const bySlot = new Map(hits.map((h) => [h.a!.slot, h]));
    const [hq, hk, hv] = [bySlot.get(0), bySlot.get(1), bySlot.get(2)];
    if (!hq || !hk || !hv) return fail('q, k and v projections feeding inputs 0, 1, 2 of the attention op', attn);
    q = hq.p.ref;
    k = hk.p.ref;
    v = hv.p.ref;
    headDim = hq.p.outFeatures / numHeads;
    if (!Number.isInteger(headDim) || hk.p.outFeatures !== numKvHeads * headDim) return fail('q/k widths matching num_heads / kv_num_heads', attn);
    weightTypes.push(...[hq, hk, hv].map((h) => h.p.weightTensor.dataType ?? 0));
    // separate RotaryEmbedding nodes may carry num_heads too
    for (const [h, role] of [
      [hq, 'numHeads'],
      [hk, 'numKvHeads'],
    ] as const) {
      for (const r of h.a!.via) if (attrInt(r, 'num_heads')) attributeUses.push({ node: r.name ?? '', attribute: 'num_heads', role });
    }
  }

  const ctxOut = attn.output![0]!;
  const oUse = usesThrough(ix, ctxOut).find((u) => u.input === 0 && matchLinear(ix, u.node));
  if (!oUse) return fail('o_proj MatMul reading the attention output', attn);
  const o = matchLinear(ix, oUse.node)!;
  weightTypes.push(o.weightTensor.dataType ?? 0);

  let kvCache: KvCacheRef | undefined;
  const pastKey = attn.input?.[isGqa ? 3 : 6];
  const pastValue = attn.input?.[isGqa ? 4 : 7];
  const [, presentKey, presentValue] = attn.output ?? [];
  if (pastKey && pastValue && presentKey && presentValue) {
    const pk = source(ix, pastKey);
    const pv = source(ix, pastValue);
    if (!ix.isGraphInput(pk) || !ix.isGraphOutput(presentKey) || !ix.isGraphOutput(presentValue)) {
      return fail('past key/value graph inputs and present key/value graph outputs on the attention op', attn);
    }
    kvCache = { pastKey: pk, pastValue: pv, presentKey, presentValue, headAxis: headAxisOf(ix, pk, numKvHeads) };
  }
  const core = new Set<NodeProto>([attn, ...hits.flatMap((h) => h.a!.via)]);
  return {
    q,
    k,
    v,
    o: o.ref,
    numHeads,
    numKvHeads,
    headDim,
    context: o.input,
    output: o.output,
    attention: isGqa ? { kind: 'group-query-attention', node: attn.name ?? '' } : { kind: 'multi-head-attention', node: attn.name ?? '' },
    shapeUses: [],
    attributeUses,
    ...(kvCache ? { kvCache } : {}),
    core,
    weightTypes,
  };
}

