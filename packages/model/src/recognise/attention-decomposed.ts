/**
 * Attention written in standard ops (torch exporters, llm-bip export): q/k/v projections of the normed
 * input, scores MatMul -> Softmax -> context MatMul, a merge of the heads, o_proj.
 */
import { tensorDims, type GraphIndex, type NodeProto } from '@llm-bip/onnx-io';
import type { NormRef, ShapeUse } from '../spec.js';
import { matchNormOf } from './norm.js';
import { PatternNotFound } from './errors.js';
import type { MatchedAttention } from './attention-types.js';
import { findDecomposedKvCache } from './kv-cache.js';
import { matchLinear, projectionNode, type MatchedLinear } from './linear.js';
import { shapeElements } from './shape-elements.js';
import { collectShapeUses, type PathTag } from './shape-uses.js';
import { ancestors, descendants, isOp, nodeLabel, source } from './walk.js';

export const ATTENTION_PATTERN = 'attention (q/k/v MatMul -> scores MatMul -> Softmax -> context MatMul -> o_proj MatMul)';

const byPosition = (ix: GraphIndex) => (a: NodeProto, b: NodeProto) => ix.indexOf(a) - ix.indexOf(b);

export function matchDecomposedAttention(ix: GraphIndex, xn: string, projs: MatchedLinear[], layer: number): MatchedAttention {
  const where = `in layer ${layer}'s attention`;
  const fail = (what: string, at: NodeProto | undefined): never => {
    throw new PatternNotFound(`${ATTENTION_PATTERN}: ${what}`, nodeLabel(at) ?? xn, where);
  };
  if (projs.length === 1 && !projs[0]!.via) {
    fail(
      `3 projections of the normed input (found 1, of width ${projs[0]!.outFeatures}: a fused q/k/v projection whose output is not cut into q, k and v by slices of its last axis that tile it, which llm-bip cannot read; export the HF checkpoint with \`llm-bip export\`, which writes q, k and v apart)`,
      ix.node(projs[0]!.ref.node),
    );
  }
  if (projs.length !== 3) fail(`3 projections of the normed input (found ${projs.length})`, ix.producer(xn)?.node);
  // a fused q/k/v projection (Phi-3) stands in the graph as its three slices
  const projNodes = projs.map((p) => ix.node(projectionNode(p))!);
  // the block ends at the next projection (o_proj): searching past it would find the next layer's Softmax
  const isProjection = (n: NodeProto) => matchLinear(ix, n) !== undefined;
  const reach = projs.map((p) => descendants(ix, [p.output], isProjection));

  // Softmax reached from two projections (q and k)
  const softmaxes = [...reach[0]!, ...reach[1]!, ...reach[2]!].filter((n) => isOp(n, 'Softmax'));
  const softmax = softmaxes.filter((n) => reach.filter((r) => r.has(n)).length >= 2).sort(byPosition(ix))[0];
  if (!softmax) return fail('Softmax fed by the projections', projNodes[0]);

  // scores MatMul: the last two-input MatMul before the Softmax
  const stop = new Set([xn]);
  const beforeSoftmax = ancestors(ix, [softmax.input![0]!], stop);
  const scores = [...beforeSoftmax].filter((n) => isOp(n, 'MatMul') && !matchLinear(ix, n)).sort(byPosition(ix)).pop();
  if (!scores) return fail('scores MatMul before the Softmax', softmax);
  const qSide = ancestors(ix, [scores.input![0]!], stop);
  const kSide = ancestors(ix, [scores.input![1]!], stop);
  const qi = projNodes.findIndex((n) => qSide.has(n) && !kSide.has(n));
  const ki = projNodes.findIndex((n) => kSide.has(n) && !qSide.has(n));
  if (qi < 0 || ki < 0) return fail('q and k projections feeding the scores MatMul', scores);
  const vi = [0, 1, 2].find((i) => i !== qi && i !== ki)!;

  // context MatMul: probabilities (from the Softmax) times v
  const afterSoftmax = descendants(ix, [softmax.output![0]!], isProjection);
  const ctx = [...afterSoftmax]
    .filter((n) => isOp(n, 'MatMul') && ancestors(ix, [n.input![1]!], stop).has(projNodes[vi]!) && !matchLinear(ix, n))
    .sort(byPosition(ix))[0];
  if (!ctx) return fail('context MatMul of the Softmax output and v', softmax);

  // o_proj: the first projection after the context MatMul
  const afterCtx = [...descendants(ix, [ctx.output![0]!], () => false, 400)].sort(byPosition(ix));
  const oNode = afterCtx.find((n) => matchLinear(ix, n) !== undefined);
  if (!oNode) return fail('o_proj MatMul after the context MatMul', ctx);
  const o = matchLinear(ix, oNode)!;
  const [q, k, v] = [projs[qi]!, projs[ki]!, projs[vi]!];
  if (k.outFeatures !== v.outFeatures) return fail(`k and v of equal width (k ${k.outFeatures}, v ${v.outFeatures})`, projNodes[vi]);

  // core: nodes downstream of the projections and upstream of o_proj's input
  const upstream = ancestors(ix, [o.input], stop);
  const core = new Set([...reach[0]!, ...reach[1]!, ...reach[2]!].filter((n) => upstream.has(n)));

  const tags = tagPaths(ix, core, q.output, [k.output, v.output], ctx.output![0]!);
  const tagsOf = (t: string) => tags.get(t) ?? new Set<PathTag>();

  const headDim = headDimOf(ix, core, tagsOf, q.outFeatures);
  if (!headDim) return fail('head_dim: a constant head_dim or head count in the q head-split Reshape', projNodes[qi]);
  const numHeads = q.outFeatures / headDim;
  const numKvHeads = k.outFeatures / headDim;
  if (!Number.isInteger(numHeads) || !Number.isInteger(numKvHeads) || numHeads % numKvHeads !== 0) {
    return fail(`head counts: q width ${q.outFeatures} and kv width ${k.outFeatures} are not multiples of head_dim ${headDim} in a GQA ratio`, projNodes[qi]);
  }

  const shapeUses = [...collectShapeUses({ ix, core, tagsOf, numHeads, numKvHeads, headDim, layer }), ...fusedBoundUses([q, k, v], numHeads, numKvHeads, headDim, layer)];
  const kSet = descendants(ix, [k.output], isProjection);
  const kvCache = findDecomposedKvCache(ix, core, (n) => kSet.has(n), numKvHeads, layer);
  const qNorm = headNormOn(ix, core, tagsOf, 'q', headDim);
  const kNorm = headNormOn(ix, core, tagsOf, 'kv', headDim);
  return {
    q: q.ref,
    k: k.ref,
    v: v.ref,
    o: o.ref,
    numHeads,
    numKvHeads,
    headDim,
    context: o.input,
    output: o.output,
    attention: { kind: 'decomposed' },
    shapeUses,
    attributeUses: [],
    ...(kvCache ? { kvCache } : {}),
    ...(qNorm ? { qNorm } : {}),
    ...(kNorm ? { kNorm } : {}),
    core,
    weightTypes: [q, k, v, o].map((p) => p.weightTensor.dataType ?? 0),
  };
}

/** Tag each core tensor with the paths it derives from: q, kv (k, v and the caches), ctx (after the context MatMul). */
function tagPaths(ix: GraphIndex, core: Set<NodeProto>, qOut: string, kvOuts: string[], ctxOut: string): Map<string, Set<PathTag>> {
  const tags = new Map<string, Set<PathTag>>();
  const put = (t: string, tag: PathTag) => {
    const s = tags.get(t) ?? new Set<PathTag>();
    s.add(tag);
    tags.set(t, s);
  };
  put(qOut, 'q');
  for (const t of kvOuts) put(t, 'kv');
  put(ctxOut, 'ctx');
  const order = [...core].sort(byPosition(ix));
  for (let pass = 0; pass < 2; pass++) {
    for (const n of order) {
      for (const i of n.input ?? []) {
        if (!i) continue;
        for (const tag of tags.get(i) ?? []) for (const out of n.output ?? []) if (out) put(out, tag);
      }
    }
  }
  return tags;
}

/** head_dim from the q head-split Reshape: its last constant element, or width / its head-count element. */
function headDimOf(ix: GraphIndex, core: Set<NodeProto>, tagsOf: (t: string) => Set<PathTag>, qWidth: number): number | undefined {
  const reshapes = [...core].filter((n) => isOp(n, 'Reshape')).sort(byPosition(ix));
  for (const pathTag of ['q', 'kv'] as const) {
    for (const r of reshapes) {
      const t = tagsOf(r.input![0]!);
      if (!t.has(pathTag) || t.has('ctx') || (pathTag === 'kv' && t.has('q'))) continue;
      if (isOp(ix.producer(source(ix, r.input![0]!))?.node, 'Expand')) continue;
      const els = shapeElements(ix, r, 1);
      if (!els || els.length !== 4) continue;
      const d = els[3]!;
      if (d.kind === 'const' && d.value > 0) return d.value;
      const h = els[2]!;
      if (pathTag === 'q' && h.kind === 'const' && h.value > 0 && qWidth % h.value === 0) return qWidth / h.value;
    }
  }
  return undefined;
}

/**
 * A per-head RMSNorm on the q (or k) path before the scores (Qwen3's q_norm / k_norm): its gain is
 * [headDim], one for every head. The first tensor of the path that a norm reads (in graph order).
 */
function headNormOn(ix: GraphIndex, core: Set<NodeProto>, tagsOf: (t: string) => Set<PathTag>, tag: 'q' | 'kv', headDim: number): NormRef | undefined {
  const means = [...core].filter((n) => isOp(n, 'ReduceMean')).sort(byPosition(ix));
  for (const mean of means) {
    const squared = ix.producer(mean.input![0]!)?.node;
    const x = squared?.input?.[0];
    if (!x) continue;
    const tags = tagsOf(x);
    if (!tags.has(tag) || tags.has('ctx') || (tag === 'kv' && tags.has('q'))) continue;
    try {
      const norm = matchNormOf(ix, x);
      const gain = ix.initializer(norm.weight);
      if (gain && tensorDims(gain).length === 1 && tensorDims(gain)[0] === headDim) return norm;
    } catch (e) {
      if (!(e instanceof PatternNotFound)) throw e;
    }
  }
  return undefined;
}

/**
 * The constant bounds of the slices that cut q, k and v out of a fused projection (Phi-3's torch.onnx
 * qkv_proj): q ends / k starts at the q width, k ends / v starts at q width + kv width. Surgery rewrites
 * them; a bound that is neither is an error, not a silently wrong cut.
 */
function fusedBoundUses(projs: MatchedLinear[], heads: number, kvHeads: number, headDim: number, layer: number): ShapeUse[] {
  const uses: ShapeUse[] = [];
  for (const p of projs) {
    for (const b of p.bounds ?? []) {
      const role: ShapeUse['role'] | undefined =
        b.kind === 'size'
          ? b.value === p.outFeatures
            ? p === projs[0]
              ? 'qWidth'
              : 'kvWidth'
            : undefined
          : b.value === heads * headDim
            ? 'qWidth'
            : b.value === (heads + kvHeads) * headDim
              ? 'qkWidth'
              : undefined;
      if (!role) throw new PatternNotFound(`${ATTENTION_PATTERN}: fused q/k/v slice bounds at the q and q + kv widths (${b.node} has ${b.value})`, b.node, `in layer ${layer}'s attention`);
      uses.push({ node: b.node, input: b.input, element: b.element, role });
    }
  }
  return uses;
}
