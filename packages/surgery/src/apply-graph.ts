/**
 * One function per graph edit kind (see edits.ts). They edit an EditableGraph in place; weights are
 * sliced later, while streaming.
 */
import { DataType, encodeFloats, inlineTensorBytes, readTensorBytes, bytesToFloat32, tensorDims, toNumber, GraphIndex, setConstantElement, setNodeAttribute, type NodeProto, type TensorProto, type TensorRef, type ValueInfoProto } from '@llm-bip/onnx-io';
import { SurgeryError } from './errors.js';
import type { EditableGraph } from './graph-ops.js';
import type { GraphEdit } from './edits.js';

export interface ApplyContext {
  g: EditableGraph;
  /** folder the source model's external data is relative to */
  baseDir: string;
  /** tensor renamed away by a bypass -> the tensor that replaced it */
  alias: Map<string, string>;
  /** (op, shape input) -> the shape-building node private to it */
  privateShapes: Map<string, string>;
  /** zero-size new-token tensors for emptied KV caches, by type and layout */
  emptyCaches: Map<string, string>;
}

type Applier<K extends GraphEdit['kind']> = (e: Extract<GraphEdit, { kind: K }>, ctx: ApplyContext) => Promise<void> | void;

const APPLIERS: { [K in GraphEdit['kind']]: Applier<K> } = {
  'shape-element': applyShapeElement,
  attribute: applyAttribute,
  'kv-heads': applyKvHeads,
  'empty-kv-cache': applyEmptyKvCache,
  bypass: applyBypass,
  'add-bias': applyAddBias,
};

export async function applyGraphEdit(e: GraphEdit, ctx: ApplyContext): Promise<void> {
  await (APPLIERS[e.kind] as Applier<GraphEdit['kind']>)(e, ctx);
}

/** The current name of a tensor, after earlier bypasses renamed it. */
export function currentName(ref: TensorRef, ctx: ApplyContext): string {
  let name = ctx.g.resolve(ref);
  for (let hops = 0; ctx.alias.has(name) && hops < 10_000; hops++) name = ctx.alias.get(name)!;
  return name;
}

// ---- shape constants and attributes ----------------------------------------------------------------

function applyShapeElement(e: Extract<GraphEdit, { kind: 'shape-element' }>, ctx: ApplyContext): void {
  const use = e.use.shapeOf ? { ...e.use, node: privateShapeBuilder(e, ctx) } : e.use;
  const what = `layer ${e.layer}: ${use.role} at element ${use.element} of input ${use.input} of node "${use.node}"`;
  const name = ctx.g.node(use.node).input?.[use.input];
  const t = name ? new GraphIndex(ctx.g.graph).constantTensor(name) : undefined;
  if (!name || !t) throw new SurgeryError(`${what}: no constant feeds that input; recognise the model again`);
  const old = readElement(t, use.element, what);
  if (old !== e.from && old !== e.value) {
    throw new SurgeryError(`${what} holds ${old}, but the layer's ${use.role} is ${e.from}: the spec does not match the graph; recognise the model again`);
  }
  if (old === e.value) return;
  if (tensorDims(t).length === 0) {
    // a scalar (torch's `Mul(x, 2)`): a private copy for this input; onnx-io's setConstantElement takes 1-D lists
    const fresh = ctx.g.freshName(`${name}/llm_bip_layer${e.layer}`);
    ctx.g.addInitializer({ name: fresh, dataType: DataType.INT64, dims: [], rawData: encodeInt64([e.value]) });
    ctx.g.node(use.node).input![use.input] = fresh;
    return;
  }
  // clones the constant when other nodes (e.g. other layers) share it
  setConstantElement(ctx.g.graph, use, e.value);
}

/**
 * A ShapeUse on an intermediate node (a Concat assembling a shape) changes every op that reads what
 * it builds. When other ops share that (dynamo shares shape Concats between layers), the op named by
 * `shapeOf` gets its own copy of the nodes from the builder to its input first; later edits for that
 * op go to the same copy.
 */
function privateShapeBuilder(e: Extract<GraphEdit, { kind: 'shape-element' }>, ctx: ApplyContext): string {
  const target = e.use.shapeOf!;
  const key = `${target.node}\u0000${target.input}`;
  const known = ctx.privateShapes.get(key);
  if (known) return known;
  const g = ctx.g;
  const op = g.node(target.node);
  const builder = g.node(e.use.node);
  const shape = op.input?.[target.input];
  const path = shape ? pathFrom(builder, shape, g) : undefined;
  if (!shape || !path) {
    throw new SurgeryError(`layer ${e.layer}: input ${target.input} of "${target.node}" does not depend on "${e.use.node}" as the spec says; recognise the model again`);
  }
  const inPath = new Set(path);
  const shared =
    path.some((n) => (n.output ?? []).some((o) => o && (g.isGraphOutput(o) || g.consumers(o).some((u) => !inPath.has(u.node) && !(u.node === op && u.slot === target.input))))) ||
    (op.input ?? []).filter((i) => i === shape).length > 1;
  let name = builder.name!;
  if (shared) {
    const renamed = new Map<string, string>();
    for (const n of path) for (const o of n.output ?? []) if (o) renamed.set(o, g.freshName(`${o}/llm_bip_layer${e.layer}`));
    for (const n of path) {
      const clone: NodeProto = {
        ...n,
        name: g.freshName(`${n.name || n.opType}/llm_bip_layer${e.layer}`),
        input: (n.input ?? []).map((i) => renamed.get(i) ?? i),
        output: (n.output ?? []).map((o) => renamed.get(o) ?? o),
        attribute: [...(n.attribute ?? [])],
      };
      g.addNode(clone);
      if (n === builder) name = clone.name!;
    }
    op.input![target.input] = renamed.get(shape)!;
  }
  ctx.privateShapes.set(key, name);
  return name;
}

/** Nodes on the paths from `from` to the producer of `tensor` (both included), or undefined if none. */
function pathFrom(from: NodeProto, tensor: string, g: EditableGraph): NodeProto[] | undefined {
  const memo = new Map<NodeProto, boolean>();
  const reaches = (n: NodeProto): boolean => {
    if (n === from) return true;
    const m = memo.get(n);
    if (m !== undefined) return m;
    memo.set(n, false); // cycle guard
    const r = (n.input ?? []).some((i) => {
      const p = i ? g.producer(i) : undefined;
      return p ? reaches(p.node) : false;
    });
    memo.set(n, r);
    return r;
  };
  const top = g.producer(tensor);
  if (!top || !reaches(top.node)) return undefined;
  return g.nodes.filter((n) => n === from || memo.get(n) === true);
}

function readElement(t: TensorProto, element: number, what: string): number {
  const bytes = inlineTensorBytes(t);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (t.dataType !== DataType.INT64) throw new SurgeryError(`${what}: constant "${t.name}" has data type ${t.dataType}, expected int64`);
  if ((element + 1) * 8 > bytes.length) throw new SurgeryError(`${what}: constant "${t.name}" has no element ${element}`);
  return Number(view.getBigInt64(element * 8, true));
}

function applyAttribute(e: Extract<GraphEdit, { kind: 'attribute' }>, ctx: ApplyContext): void {
  const node = ctx.g.node(e.use.node);
  const a = (node.attribute ?? []).find((x) => x.name === e.use.attribute);
  const what = `layer ${e.layer}: attribute ${e.use.attribute} of node "${e.use.node}"`;
  if (!a) throw new SurgeryError(`${what} does not exist; recognise the model again`);
  const old = toNumber(a.i);
  if (old !== e.from && old !== e.value) throw new SurgeryError(`${what} is ${old}, but the layer's ${e.use.role} is ${e.from}: the spec does not match the graph`);
  setNodeAttribute(node, e.use.attribute, e.value);
}

// ---- KV cache I/O ----------------------------------------------------------------------------------

function withHeadDim(v: ValueInfoProto, axis: number, value: number, force = false): ValueInfoProto {
  const tt = v.type?.tensorType;
  const dims = tt?.shape?.dim;
  if (!tt || !dims || !dims[axis]) return v;
  const d = dims[axis]!;
  if (!force && (d.dimValue === null || d.dimValue === undefined || d.dimParam)) return v; // symbolic: nothing to fix
  if (force) return { ...v, type: { ...v.type, tensorType: { ...tt, shape: { ...tt.shape, dim: dims.map((x, j) => (j === axis ? { dimValue: value } : x)) } } } };
  return {
    ...v,
    type: { ...v.type, tensorType: { ...tt, shape: { ...tt.shape, dim: dims.map((x, j) => (j === axis ? { ...x, dimValue: value } : x)) } } },
  };
}

function applyKvHeads(e: Extract<GraphEdit, { kind: 'kv-heads' }>, ctx: ApplyContext): void {
  const names = new Set([e.cache.pastKey, e.cache.pastValue, e.cache.presentKey, e.cache.presentValue]);
  const g = ctx.g.graph;
  const fix = (list: ValueInfoProto[] | null | undefined) => (list ?? []).map((v) => (names.has(v.name ?? '') ? withHeadDim(v, e.cache.headAxis, e.value) : v));
  g.input = fix(g.input);
  g.output = fix(g.output);
  g.valueInfo = fix(g.valueInfo);
}

/**
 * A layer without heads keeps its cache I/O, with zero KV heads: past_key_values.N.* come in as
 * [batch, 0, past, head_dim] and present.N.* = Concat(past, [batch, 0, seq, head_dim]) along the
 * sequence. Every decoding loop keeps working unchanged (same names, a sequence length that grows,
 * as graphs that read the past length from a cache's shape need), and the cache costs no memory.
 */
function applyEmptyKvCache(e: Extract<GraphEdit, { kind: 'empty-kv-cache' }>, ctx: ApplyContext): void {
  const g = ctx.g;
  const graph = g.graph;
  const { cache } = e;
  const names = new Set([cache.pastKey, cache.pastValue, cache.presentKey, cache.presentValue]);
  const fix = (list: ValueInfoProto[] | null | undefined) => (list ?? []).map((v) => (names.has(v.name ?? '') ? withHeadDim(v, cache.headAxis, 0, true) : v));
  graph.input = fix(graph.input);
  graph.output = fix(graph.output);
  graph.valueInfo = fix(graph.valueInfo);
  const seqAxis = [1, 2].find((a) => a !== cache.headAxis)!;
  for (const [past, present] of [
    [cache.pastKey, cache.presentKey],
    [cache.pastValue, cache.presentValue],
  ] as const) {
    const input = graph.input!.find((v) => v.name === past);
    if (!input) throw new SurgeryError(`layer ${e.layer}: the spec names KV input "${past}", which is not a graph input`);
    const elemType = input.type?.tensorType?.elemType ?? DataType.FLOAT;
    // the old present (and the attention block behind it) becomes dead
    const p = g.producer(present);
    if (p) {
      const hidden = g.freshName(`${present}/llm_bip_unused`);
      p.node.output![p.index] = hidden;
      for (const n of g.nodes) n.input = (n.input ?? []).map((i) => (i === present ? hidden : i));
    }
    const empty = emptyNewTokens(ctx, e, elemType, seqAxis);
    g.addNode({ name: g.freshName(`${present}/llm_bip_empty_cache`), opType: 'Concat', domain: '', input: [past, empty], output: [present], attribute: [{ name: 'axis', type: 2, i: seqAxis }] });
  }
}

/** A zero-size [batch, 0, seq, head_dim] tensor (0 on the head axis) for the new tokens; one per type and layout. */
function emptyNewTokens(ctx: ApplyContext, e: Extract<GraphEdit, { kind: 'empty-kv-cache' }>, elemType: number, seqAxis: number): string {
  const key = `${elemType}/${e.cache.headAxis}/${e.headDim}`;
  const known = ctx.emptyCaches.get(key);
  if (known) return known;
  const g = ctx.g;
  const base = '/llm_bip/empty_cache';
  const int64 = (name: string, v: number[]) => g.addInitializer({ name: g.freshName(`${base}/${name}`), dataType: DataType.INT64, dims: [v.length], rawData: encodeInt64(v) });
  const shape = g.freshName(`${base}/ids_shape`);
  g.addNode({ name: g.freshName(`${base}/Shape`), opType: 'Shape', domain: '', input: [e.inputIds], output: [shape], attribute: [] });
  const slice = (from: number, tag: string) => {
    const out = g.freshName(`${base}/${tag}`);
    g.addNode({ name: g.freshName(`${base}/Slice_${tag}`), opType: 'Slice', domain: '', input: [shape, int64(`${tag}_start`, [from]), int64(`${tag}_end`, [from + 1])], output: [out], attribute: [] });
    return out;
  };
  const batch = slice(0, 'batch');
  const seq = slice(1, 'seq');
  const parts = [batch, '', '', int64('head_dim', [e.headDim])];
  parts[e.cache.headAxis] = int64('zero_heads', [0]);
  parts[seqAxis] = seq;
  const dims = g.freshName(`${base}/dims`);
  g.addNode({ name: g.freshName(`${base}/Concat_dims`), opType: 'Concat', domain: '', input: parts, output: [dims], attribute: [{ name: 'axis', type: 2, i: 0 }] });
  const out = g.freshName(`${base}/tokens`);
  const zero: TensorProto = { name: 'value', dataType: elemType, dims: [1], rawData: encodeFloats(new Float64Array(1), elemType) };
  g.addNode({ name: g.freshName(`${base}/ConstantOfShape`), opType: 'ConstantOfShape', domain: '', input: [dims], output: [out], attribute: [{ name: 'value', type: 4, t: zero }] });
  ctx.emptyCaches.set(key, out);
  return out;
}

function encodeInt64(v: number[]): Uint8Array {
  return new Uint8Array(BigInt64Array.from(v, (x) => BigInt(x)).buffer);
}

// ---- removing a whole sub-block --------------------------------------------------------------------

function biasTensor(name: string, values: Float64Array, dataType: number): TensorProto {
  return { name, dataType, dims: [values.length], rawData: encodeFloats(values, dataType) };
}

function applyBypass(e: Extract<GraphEdit, { kind: 'bypass' }>, ctx: ApplyContext): void {
  const g = ctx.g;
  const residual = g.resolve(e.residual);
  const base = currentName(e.base, ctx);
  const branch = currentName(e.branch, ctx);
  const where = `layer ${e.layer}: removing the ${e.block === 'attention' ? 'attention' : 'MLP'} block`;
  const found = typeof e.residual === 'string' ? g.producer(residual) : { node: g.node(e.residual.node), index: e.residual.output };
  if (!found) throw new SurgeryError(`${where}: nothing produces the residual sum "${residual}"; recognise the model again`);
  const { node, index } = found;
  const bias = e.bias ? g.addInitializer(biasTensor(g.freshName(`${branch}/llm_bip_compensation`), e.bias, e.biasType ?? DataType.FLOAT)) : undefined;

  if (node.opType === 'Add' && (node.domain ?? '') === '') {
    const ins = node.input ?? [];
    // the Add may read a Cast/Identity copy of the block input (TorchScript reuses RMSNorm's float32 cast of
    // the residual), which the recogniser looked through: keep whichever operand is not the branch
    const kept = ins.includes(base) ? base : ins.length === 2 && ins.includes(branch) ? ins.find((i) => i !== branch)! : undefined;
    if (ins.length !== 2 || kept === undefined) {
      throw new SurgeryError(`${where}: the residual Add "${node.name}" reads [${ins.join(', ')}], not the block input "${base}"; the spec does not match the graph`);
    }
    if (bias) node.input = [kept, bias];
    else {
      g.renameUses(residual, kept, node);
      ctx.alias.set(residual, kept);
    }
    return;
  }
  if ((node.opType === 'SkipSimplifiedLayerNormalization') && index === 3) {
    bypassSkipNorm(node, base, bias, residual, where, ctx);
    return;
  }
  throw new SurgeryError(
    `${where}: its residual sum "${residual}" comes from ${node.opType} node "${node.name}" (output ${index}), which surgery cannot bypass. Keep at least one ${e.block === 'attention' ? 'head' : 'channel'} in this layer.`,
  );
}

/**
 * SkipSimplifiedLayerNormalization(x, branch, gamma[, bias]) -> (norm(x + branch), _, _, x + branch).
 * Without the branch it becomes SimplifiedLayerNormalization(x'), with x' = x (+ bias terms).
 */
function bypassSkipNorm(node: NodeProto, base: string, bias: string | undefined, residual: string, where: string, ctx: ApplyContext): void {
  const g = ctx.g;
  const ins = node.input ?? [];
  if (ins[0] !== base && ins[1] !== base) {
    throw new SurgeryError(`${where}: "${node.name}" adds [${ins[0]}, ${ins[1]}], neither is the block input "${base}"; the spec does not match the graph`);
  }
  for (const k of [1, 2]) {
    const o = node.output?.[k];
    if (o && g.consumers(o).length > 0) throw new SurgeryError(`${where}: "${node.name}" output ${k} is read by other nodes; surgery cannot replace it`);
  }
  let sum = base;
  const addConst = (c: string, tag: string) => {
    const out = g.freshName(`${residual || node.name}/llm_bip_${tag}`);
    g.addNode({ name: g.freshName(`${node.name}/llm_bip_${tag}`), opType: 'Add', domain: '', input: [sum, c], output: [out], attribute: [] });
    sum = out;
  };
  if (ins[3]) addConst(ins[3], 'bias');
  if (bias) addConst(bias, 'compensation');
  const out0 = node.output?.[0];
  if (out0) {
    const eps = (node.attribute ?? []).find((a) => a.name === 'epsilon');
    g.addNode({
      name: g.freshName(`${node.name}/llm_bip_norm`),
      opType: 'SimplifiedLayerNormalization',
      domain: '',
      input: [sum, ins[2]!],
      output: [out0],
      attribute: [
        ...(eps ? [{ ...eps }] : []),
        { name: 'axis', type: 2, i: -1 },
        { name: 'stash_type', type: 2, i: 1 },
      ],
    });
  }
  g.removeNode(node);
  if (residual) {
    g.renameUses(residual, sum);
    ctx.alias.set(residual, sum);
  }
}

// ---- compensation after a kept projection ----------------------------------------------------------

async function applyAddBias(e: Extract<GraphEdit, { kind: 'add-bias' }>, ctx: ApplyContext): Promise<void> {
  const g = ctx.g;
  if (e.linear.bias) {
    const old = g.initializer(e.linear.bias);
    if (!old) throw new SurgeryError(`layer ${e.layer}: bias initializer "${e.linear.bias}" is missing; recognise the model again`);
    const dt = old.dataType ?? DataType.FLOAT;
    const current = bytesToFloat32(await readTensorBytes(old, ctx.baseDir), dt, e.linear.bias);
    if (current.length !== e.values.length) throw new SurgeryError(`layer ${e.layer}: bias "${e.linear.bias}" has ${current.length} values, compensation ${e.values.length}`);
    const sum = Float64Array.from(current, (v, i) => v + e.values[i]!);
    const i = g.graph.initializer!.indexOf(old);
    g.graph.initializer![i] = { ...biasTensor(e.linear.bias, sum, dt), dims: tensorDims(old) };
    return;
  }
  const node = g.node(e.linear.node);
  const out = node.output?.[0];
  if (!out) throw new SurgeryError(`layer ${e.layer}: node "${e.linear.node}" has no output`);
  const biasName = g.addInitializer(biasTensor(g.freshName(`${e.linear.weight}/llm_bip_compensation`), e.values, e.biasType));
  const added = g.freshName(`${out}/llm_bip_compensated`);
  const add = g.addNode({ name: g.freshName(`${e.linear.node}/llm_bip_compensation`), opType: 'Add', domain: '', input: [out, biasName], output: [added], attribute: [] });
  g.renameUses(out, added, add);
}

