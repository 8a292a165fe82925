/**
 * Test-only pruning of one KV group (one head under MHA) of one layer, using nothing but the ModelSpec:
 * slice the listed weights, rewrite the listed ShapeUses/AttributeUses and KV-cache shapes. If the spec
 * missed a constant, the pruned model fails to run or gives different logits than the dense model with
 * the group's o_proj rows zeroed. The real surgery lives in @llm-bip/surgery.
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GraphIndex, cloneModel, setConstantElement, setNodeAttribute, encodeModel, type ModelProto, type NodeProto, type TensorProto, elementSize, inlineTensorBytes, readTensorBytes, tensorDims, isExternal } from '@llm-bip/onnx-io';
import type { ModelSpec, ShapeUse } from '../spec.js';
import { groupOf } from '../groups.js';

/** onnxruntime-node, resolved from the runtime package (onnx-io does not depend on it). */
export interface OrtTensor {
  readonly data: Float32Array | BigInt64Array | Uint16Array;
  readonly dims: readonly number[];
  readonly type: string;
}
export interface OrtSession {
  run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
}
export const ort = createRequire(join(fileURLToPath(new URL('.', import.meta.url)), '../../../runtime/package.json'))('onnxruntime-node') as {
  InferenceSession: { create(model: Uint8Array, opts?: Record<string, unknown>): Promise<OrtSession> };
  Tensor: new (type: string, data: Float32Array | BigInt64Array | Uint16Array, dims: number[]) => OrtTensor;
};

/** Bring external initializers inline (the tiny fixtures are small), so the model can be edited and run from memory. */
export async function inlineExternalData(model: ModelProto, dir: string): Promise<ModelProto> {
  const m = cloneModel(model);
  for (const t of m.graph!.initializer ?? []) {
    if (!isExternal(t)) continue;
    t.rawData = await readTensorBytes(t, dir);
    t.externalData = [];
    t.dataLocation = 0;
  }
  return m;
}

/** Copy of a 1-D or 2-D tensor without the indices `drop` along `axis`. */
function sliceOut(t: TensorProto, axis: number, drop: Set<number>): TensorProto {
  const dims = tensorDims(t);
  // a 1-D tensor (a bias) is one row: its axis 0 is the column axis
  const [r, c] = (dims.length === 1 ? [1, dims[0]] : dims) as [number, number];
  const colAxis = dims.length === 1 || axis === 1;
  const es = elementSize(t.dataType ?? 0);
  const src = inlineTensorBytes(t);
  const keepR = [...Array(r).keys()].filter((i) => colAxis || !drop.has(i));
  const keepC = [...Array(c).keys()].filter((j) => !colAxis || !drop.has(j));
  const out = new Uint8Array(keepR.length * keepC.length * es);
  let o = 0;
  for (const i of keepR) for (const j of keepC) {
    out.set(src.subarray((i * c + j) * es, (i * c + j + 1) * es), o);
    o += es;
  }
  return { ...t, dims: dims.length === 1 ? [keepC.length] : [keepR.length, keepC.length], rawData: out, floatData: [], int32Data: [] };
}

/** Copy of a 2-D tensor with the indices `zero` along `axis` set to 0. */
function zeroOut(t: TensorProto, axis: 0 | 1, zero: Set<number>): TensorProto {
  const [r, c] = tensorDims(t) as [number, number];
  const es = elementSize(t.dataType ?? 0);
  const out = new Uint8Array(inlineTensorBytes(t));
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) if (zero.has(axis === 0 ? i : j)) out.fill(0, (i * c + j) * es, (i * c + j + 1) * es);
  return { ...t, rawData: out, floatData: [], int32Data: [] };
}

function replaceInit(m: ModelProto, name: string, f: (t: TensorProto) => TensorProto): void {
  const list = m.graph!.initializer!;
  const at = list.findIndex((t) => t.name === name);
  if (at < 0) throw new Error(`no initializer ${name}`);
  list[at] = f(list[at]!);
}

/** The dense model with group g's o_proj input rows zeroed: what pruning the group must equal. */
export function zeroGroup(model: ModelProto, spec: ModelSpec, layer: number, g: number): ModelProto {
  const m = cloneModel(model);
  const o = groupOf(spec, layer, 'heads', g).slices.find((s) => s.role === 'o')!;
  replaceInit(m, o.tensor, (t) => zeroOut(t, o.axis as 0 | 1, new Set(o.indices)));
  return m;
}

export interface PruneOptions {
  /** leave the ShapeUses alone (a negative control: the model must then break) */
  skipShapeUses?: boolean;
}

export function pruneGroup(model: ModelProto, spec: ModelSpec, layer: number, g: number, opts: PruneOptions = {}): ModelProto {
  const m = cloneModel(model);
  const l = spec.layers[layer]!;
  const rep = l.numHeads / l.numKvHeads;
  const H = l.numHeads - rep;
  const KV = l.numKvHeads - 1;
  const D = l.headDim;

  // weights: the group's slices (groups.ts); q, k, v of a fused qkv weight land in one tensor
  const drops = new Map<string, { axis: number; idx: Set<number> }>();
  for (const s of groupOf(spec, layer, 'heads', g).slices) {
    const d = drops.get(s.tensor) ?? { axis: s.axis, idx: new Set<number>() };
    for (const i of s.indices) d.idx.add(i);
    drops.set(s.tensor, d);
  }
  for (const [w, d] of drops) replaceInit(m, w, (t) => sliceOut(t, d.axis, d.idx));

  const value: Record<ShapeUse['role'], number> = { numHeads: H, numKvHeads: KV, qWidth: H * D, kvWidth: KV * D, qkWidth: (H + KV) * D, ffnWidth: l.intermediateSize, kvGroupsRepeat: rep };
  if (!opts.skipShapeUses) {
    const copies = new Map<string, string>();
    for (const use of l.shapeUses) {
      // the GQA repeat factor is unchanged by removing whole groups (and TorchScript keeps it in 0-D scalars)
      if (currentValue(m, use) === value[use.role]) continue;
      let node = use.node;
      if (use.shapeOf) {
        const key = `${use.node}|${use.shapeOf.node}|${use.shapeOf.input}`;
        node = copies.get(key) ?? unshare(m, use.node, use.shapeOf.node, use.shapeOf.input);
        copies.set(key, node);
      }
      setConstantElement(m.graph!, { node, input: use.input, element: use.element }, value[use.role]);
    }
  }
  const ix = new GraphIndex(m.graph!);
  for (const a of l.attributeUses) setNodeAttribute(ix.requireNode(a.node), a.attribute, value[a.role]);
  if (l.kvCache) {
    for (const v of [...(m.graph!.input ?? []), ...(m.graph!.output ?? [])]) {
      if (![l.kvCache.pastKey, l.kvCache.pastValue, l.kvCache.presentKey, l.kvCache.presentValue].includes(v.name ?? '')) continue;
      const dim = v.type?.tensorType?.shape?.dim?.[l.kvCache.headAxis];
      if (dim && dim.dimValue) dim.dimValue = KV;
    }
  }
  return m;
}

function currentValue(m: ModelProto, use: { node: string; input: number; element: number }): number {
  const ix = new GraphIndex(m.graph!);
  const t = ix.constantTensor(ix.requireNode(use.node).input![use.input]!)!;
  const bytes = inlineTensorBytes(t);
  return Number(new BigInt64Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength))[use.element]);
}

/** Give `consumer` its own copy of the intermediate node `inter` (a shape Concat shared with other ops). */
function unshare(m: ModelProto, inter: string, consumer: string, slot: number): string {
  const ix = new GraphIndex(m.graph!);
  const node = ix.requireNode(inter);
  const user = ix.requireNode(consumer);
  const out = node.output![0]!;
  if (user.input![slot] !== out) throw new Error(`test pruner: ${consumer} reads ${inter} indirectly; not handled`);
  if (ix.consumers(out).length === 1) return inter;
  const name = ix.freshName(`${inter}__for_${consumer}`);
  const copy: NodeProto = { ...node, name, output: [ix.freshName(`${out}__for_${consumer}`)] };
  const nodes = m.graph!.node!;
  nodes.splice(nodes.indexOf(node) + 1, 0, copy);
  user.input![slot] = copy.output![0]!;
  return name;
}

/** Run a model held in memory; float16 outputs come back as Uint16Array. */
export async function runModel(model: ModelProto, feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>> {
  const strip = cloneModel(model);
  strip.graph!.valueInfo = []; // intermediate shapes recorded by the exporter no longer hold after pruning
  const session = await ort.InferenceSession.create(encodeModel(strip), { executionProviders: ['cpu'], intraOpNumThreads: 1, graphOptimizationLevel: 'basic' });
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}
