/**
 * pruneModel: validate the plan, turn it into edits, apply the graph edits to a structural copy,
 * clean up (dead nodes, stale value_info, topological order), then stream the weights into the output
 * through onnx-io's saveModel, slicing the pruned weights on the way.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { cloneModel, collectTensors, committedPathOf, elementSize, encodeFloats, inlineTensorBytes, isExternal, loadModel, removeUnused, saveModel, tensorByteLength, tensorDims, tensorReadingFrom, toposort, type LoadedModel, type ModelProto, type SaveModelResult, type TensorProto } from '@llm-bip/onnx-io';
import { modelFingerprint, validatePlan, type CompensationStats, type ModelSpec, type PruningPlan } from '@llm-bip/model';
import { applyGraphEdit, type ApplyContext } from './apply-graph.js';
import { compensationFor, meanFor } from './compensation.js';
import { planEdits, type GraphEdit, type SurgeryEdits, type WeightSlice } from './edits.js';
import type { ReconstructedProjection, Reconstruction } from './reconstruction/store.js';
import { sliceAxis } from './slice.js';
import { SurgeryError } from './errors.js';
import { prunedGenaiConfig } from './genai-config.js';
import { EditableGraph } from './graph-ops.js';
import {
  RECORD_FORMAT,
  parameterSummary,
  provenanceMetadata,
  prunedHfConfig,
  storedElements,
  type LayerChange,
  type PruningRecord,
} from './provenance.js';
import { dropStaleValueInfo } from './value-info.js';

export interface PruneProgress {
  phase: 'graph' | 'tensors' | 'done';
  done: number;
  total: number;
  tensor?: string;
}

export interface PruneOptions {
  /** a loaded model, or the path of a .onnx file */
  model: LoadedModel | string;
  spec: ModelSpec;
  plan: PruningPlan;
  /** output .onnx path, or a folder (then `<folder>/model.onnx`) */
  outPath: string;
  /** per-layer input means of o_proj / down_proj: adds b = W[:, pruned] · mean(x[pruned]) after them */
  compensation?: CompensationStats;
  /**
   * least-squares reconstruction (reconstruction/solve.ts): for every o_proj / down_proj that loses
   * inputs, its refit kept weights are written instead of the sliced ones and its bias is added where
   * compensation's would go. Replaces `compensation` (the fit has its own bias): give one of the two.
   */
  reconstruction?: Reconstruction;
  /** weights in `<out>.data` (default), or inline (the model must stay under 2 GiB) */
  externalData?: boolean;
  /**
   * what the record says of the run, from this surgery's own record, before the model's metadata and the
   * sidecars are written (iterative pruning: the whole run, original -> this output); default: as made
   */
  describeRun?: (record: PruningRecord) => PruningRecord;
  onProgress?: (p: PruneProgress) => void;
}

export interface PruneResult {
  modelPath: string;
  dataPath?: string;
  recordPath: string;
  configPath?: string;
  /** the pruned genai_config.json, when the input folder had one and it can describe the pruned model */
  genaiConfigPath?: string;
  /** why the input's genai_config.json was not carried over (onnxruntime-genai cannot load this model) */
  genaiConfigSkipped?: string;
  record: PruningRecord;
  /** graph changes, for logs: nodes and initializers removed */
  removed: { nodes: number; initializers: number; valueInfo: number };
  bytesWritten: number;
}

export async function pruneModel(opts: PruneOptions): Promise<PruneResult> {
  const { spec, plan } = opts;
  validatePlan(plan, spec);
  const loaded = typeof opts.model === 'string' ? await loadModel(opts.model) : opts.model;
  const outPath = await resolveOutPath(opts.outPath);
  opts.onProgress?.({ phase: 'graph', done: 0, total: 1 });

  const model = cloneModel(loaded.model);
  const g = new EditableGraph(model.graph!);
  const dimsOf = (name: string) => {
    const t = g.initializer(name);
    if (!t) throw new SurgeryError(`the spec names weight "${name}", which is not an initializer of the model: recognise this model again`);
    return tensorDims(t);
  };
  const edits = planEdits(spec, plan, dimsOf);
  if (opts.compensation && opts.reconstruction) throw new SurgeryError('give compensation or reconstruction, not both: the reconstruction fits its own bias');
  const refit = new Map<string, ReconstructedProjection>();
  const compensated = opts.reconstruction
    ? await addCompensation(edits, g, (r) => reconstructedBias(r, opts.reconstruction!, edits, refit))
    : opts.compensation
      ? await addCompensation(edits, g, async (r, weight) => compensationFor(r.linear, weight, loaded.dir, r.removed, meanFor(opts.compensation!, r.layer, r.block, inputWidth(spec, r))))
      : new Set<string>();
  const changes = layerChanges(spec, plan);

  // value_info inside pruned blocks goes stale: collect the paths before the graph changes
  const starts = new Set<string>();
  const stops = new Set<string>();
  const kvStarts: string[] = [];
  for (const c of changes) {
    const l = spec.layers[c.layer]!;
    if (c.heads[0] !== c.heads[1]) {
      [l.q, l.k, l.v].forEach((r) => starts.add(r.node));
      stops.add(l.o.node);
      if (l.kvCache) kvStarts.push(l.kvCache.pastKey, l.kvCache.pastValue);
    }
    if (c.channels[0] !== c.channels[1]) {
      [l.gate, l.up].forEach((r) => starts.add(r.node));
      stops.add(l.down.node);
    }
  }
  const valueInfo = dropStaleValueInfo(model.graph!, starts, stops, kvStarts);

  const ctx: ApplyContext = { g, baseDir: loaded.dir, alias: new Map(), privateShapes: new Map(), emptyCaches: new Map() };
  for (const e of edits.graph) await applyGraphEdit(e, ctx);
  const cleaned = removeUnused(model.graph!);
  const removed = { nodes: cleaned.removedNodes, initializers: cleaned.removedInitializers };
  toposort(model.graph!);
  checkSlicedWeightsUnshared(model, edits.slices);

  const before = parameterSummary(spec);
  const after = parameterSummary(spec, changes, compensated);
  const attnMlp = (s: typeof before) => s.attention + s.mlp;
  const fingerprint = await modelFingerprint(loaded.path, loaded.model, loaded.dir);
  const made: PruningRecord = {
    format: RECORD_FORMAT,
    createdAt: new Date().toISOString(),
    input: { path: loaded.path, fingerprint, recogniser: spec.recogniser, flavour: spec.flavour },
    output: { path: committedPathOf(outPath) },
    plan: {
      criterion: plan.criterion,
      ratio: plan.ratio,
      allocation: plan.allocation,
      headGranularity: plan.headGranularity,
      ...(plan.calibration ? { calibration: plan.calibration } : {}),
      ...(plan.seed !== undefined ? { seed: plan.seed } : {}),
      ...(plan.createdAt ? { createdAt: plan.createdAt } : {}),
      modelFingerprint: plan.model.fingerprint,
      ...(plan.model.fingerprint ? { madeForThisModel: plan.model.fingerprint === fingerprint } : {}),
      ...(plan.notes ? { notes: plan.notes } : {}),
    },
    compensation: compensated.size > 0,
    ...(opts.reconstruction ? { reconstruction: opts.reconstruction.summary() } : {}),
    parameters: {
      before,
      after,
      removedFraction: attnMlp(before) === 0 ? 0 : 1 - attnMlp(after) / attnMlp(before),
      storedElements: { before: storedElements(loaded.model), after: storedElements(model, slicedDims(model, edits.slices)) },
    },
    layers: changes,
    kvCacheEmptiedLayers: edits.graph.filter((e): e is Extract<GraphEdit, { kind: 'empty-kv-cache' }> => e.kind === 'empty-kv-cache').map((e) => e.layer),
  };
  const record = opts.describeRun ? opts.describeRun(made) : made;
  const externalData = opts.externalData ?? true;
  model.metadataProps = provenanceMetadata(model.metadataProps, record);

  const recordPath = `${outPath}.pruning.json`;
  const sidecars: Array<{ path: string; data: (w: { dataPath?: string }) => string }> = [
    {
      path: recordPath,
      data: (w) => {
        if (w.dataPath) record.output.dataPath = committedPathOf(w.dataPath);
        return JSON.stringify(record, null, 2) + '\n';
      },
    },
  ];
  let configPath: string | undefined;
  const inputConfig = join(loaded.dir, 'config.json');
  if (existsSync(inputConfig)) {
    configPath = join(dirname(outPath), 'config.json');
    if (resolve(configPath) === resolve(inputConfig)) {
      throw new SurgeryError(`the output folder ${dirname(outPath)} is the input model's folder, whose config.json would be overwritten: write the pruned model to another folder`);
    }
    const config = JSON.parse(await readFile(inputConfig, 'utf8')) as Record<string, unknown>;
    const text = JSON.stringify(prunedHfConfig(config, spec, record), null, 2) + '\n';
    sidecars.push({ path: configPath, data: () => text });
  }

  const genai = await genaiConfigSidecar(loaded.dir, outPath, spec, record);
  if (genai.sidecar) sidecars.push(genai.sidecar);

  const written = await writePrunedModel(model, loaded, outPath, {
    externalData,
    slices: new Map(edits.slices.map((s) => [s.tensor, s])),
    refit,
    sidecars,
    onProgress: (p) => opts.onProgress?.({ phase: 'tensors', done: p.done, total: p.total, tensor: p.tensor }),
  });
  opts.onProgress?.({ phase: 'done', done: 1, total: 1 });
  return {
    modelPath: written.modelPath,
    ...(written.dataPath ? { dataPath: written.dataPath } : {}),
    recordPath,
    ...(configPath ? { configPath } : {}),
    ...(genai.sidecar ? { genaiConfigPath: genai.sidecar.path } : {}),
    ...(genai.skipped ? { genaiConfigSkipped: genai.skipped } : {}),
    record,
    removed: { ...removed, valueInfo },
    bytesWritten: written.bytesWritten,
  };
}

/**
 * The pruned genai_config.json beside the output, written with the model (same commit), when the input
 * folder has one: or why it cannot describe the pruned model (genai-config.ts).
 */
async function genaiConfigSidecar(inputDir: string, outPath: string, spec: ModelSpec, record: PruningRecord): Promise<{ sidecar?: { path: string; data: () => string }; skipped?: string }> {
  const input = join(inputDir, 'genai_config.json');
  if (!existsSync(input)) return {};
  const path = join(dirname(outPath), 'genai_config.json');
  if (resolve(path) === resolve(input)) {
    throw new SurgeryError(`the output folder ${dirname(outPath)} is the input model's folder, whose genai_config.json would be overwritten: write the pruned model to another folder`);
  }
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(await readFile(input, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new SurgeryError(`${input} is not valid JSON (${(e as Error).message}): fix or remove it`);
  }
  const outcome = prunedGenaiConfig(config, spec, record, basename(committedPathOf(outPath)));
  if ('reason' in outcome) return { skipped: outcome.reason };
  const text = JSON.stringify(outcome.config, null, 4) + '\n';
  return { sidecar: { path, data: () => text } };
}

async function resolveOutPath(outPath: string): Promise<string> {
  const full = resolve(outPath);
  const st = await stat(full).catch(() => undefined);
  if (st?.isDirectory() || (!st && !full.endsWith('.onnx'))) {
    await mkdir(full, { recursive: true });
    return join(full, 'model.onnx');
  }
  await mkdir(dirname(full), { recursive: true });
  if (!basename(full)) throw new SurgeryError(`output path ${outPath} names no file`);
  return full;
}

function layerChanges(spec: ModelSpec, plan: PruningPlan): LayerChange[] {
  return spec.layers.map((l) => {
    const lp = plan.layers.find((x) => x.layer === l.index)!;
    return {
      layer: l.index,
      heads: [l.numHeads, lp.keepHeads.length],
      kvHeads: [l.numKvHeads, lp.keepKvHeads.length],
      channels: [l.intermediateSize, lp.keepChannels.length],
      attentionRemoved: lp.keepHeads.length === 0,
      ffnRemoved: lp.keepChannels.length === 0,
    };
  });
}

type RemovedInputs = SurgeryEdits['removedInputs'][number];

function inputWidth(spec: ModelSpec, r: Pick<RemovedInputs, 'layer' | 'block'>): number {
  const l = spec.layers[r.layer]!;
  return r.block === 'attention' ? l.numHeads * l.headDim : l.intermediateSize;
}

/**
 * Attach compensation biases, one per projection that loses inputs: to the bypass of a removed block,
 * or as an Add after a kept projection. `biasOf` gives the values: FLAP's W[:, pruned]·mean, or a
 * reconstruction's fitted bias.
 */
async function addCompensation(edits: SurgeryEdits, g: EditableGraph, biasOf: (r: RemovedInputs, weight: TensorProto) => Promise<Float64Array>): Promise<Set<string>> {
  const done = new Set<string>();
  for (const r of edits.removedInputs) {
    const weight = g.initializer(r.linear.weight);
    if (!weight) throw new SurgeryError(`layer ${r.layer}: weight "${r.linear.weight}" is not an initializer`);
    const values = await biasOf(r, weight);
    const biasType = weight.dataType ?? 1;
    const bypass = edits.graph.find((e) => e.kind === 'bypass' && e.layer === r.layer && e.block === r.block);
    if (bypass && bypass.kind === 'bypass') {
      bypass.bias = values;
      bypass.biasType = biasType;
    } else {
      edits.graph.push({ kind: 'add-bias', layer: r.layer, block: r.block, linear: r.linear, output: r.linear.node, values, biasType });
    }
    done.add(`${r.layer}:${r.block}`);
  }
  return done;
}

/** A reconstruction's bias for `r`, after checking it was fit for the inputs the plan keeps; registers its refit weight. */
async function reconstructedBias(r: RemovedInputs, rec: Reconstruction, edits: SurgeryEdits, refit: Map<string, ReconstructedProjection>): Promise<Float64Array> {
  const what = `layer ${r.layer} ${r.block === 'attention' ? 'o_proj' : 'down_proj'}`;
  const p = rec.projection(r.layer, r.block);
  if (!p) throw new SurgeryError(`${what} loses inputs but the reconstruction has no fit for it: reconstruct with this plan`);
  if (r.linear.columns) throw new SurgeryError(`${what}: reconstruction of a fused projection ("${r.linear.weight}" columns ${r.linear.columns.start}..${r.linear.columns.end}) is not supported`);
  const removed = new Set(r.removed);
  if (p.keep.some((i) => removed.has(i)) || p.bias.length !== p.outFeatures) {
    throw new SurgeryError(`${what}: the reconstruction was fit for other kept inputs than the plan's: reconstruct with this plan`);
  }
  const slice = edits.slices.find((s) => s.tensor === r.linear.weight);
  if (slice) {
    // the plan keeps exactly these input rows of the weight: the fit must be for the same ones
    const inAxis = r.linear.outAxis === 1 ? 0 : 1;
    if (slice.axis !== inAxis || slice.keep.length !== p.keep.length || slice.keep.some((v, i) => v !== p.keep[i])) {
      throw new SurgeryError(`${what}: the reconstruction keeps ${p.keep.length} inputs, the plan ${slice.keep.length}: reconstruct with this plan`);
    }
    refit.set(r.linear.weight, p);
  }
  return p.bias;
}

/** A sliced weight read by a node other than its projection would feed that node the wrong shape. */
function checkSlicedWeightsUnshared(model: ModelProto, slices: WeightSlice[]): void {
  const sliced = new Set(slices.map((s) => s.tensor));
  const readers = new Map<string, string[]>();
  for (const n of model.graph!.node ?? []) {
    for (const i of n.input ?? []) if (sliced.has(i)) readers.set(i, [...(readers.get(i) ?? []), n.name ?? n.opType ?? '?']);
  }
  for (const [t, r] of readers) {
    if (r.length > 1) throw new SurgeryError(`weight "${t}" is read by ${r.length} nodes (${r.slice(0, 3).join(', ')}); surgery can prune only weights that belong to one projection`);
  }
}

function slicedDims(model: ModelProto, slices: WeightSlice[]): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const s of slices) {
    const t = model.graph!.initializer!.find((x) => x.name === s.tensor);
    if (!t) continue;
    const dims = tensorDims(t);
    dims[s.axis] = s.keep.length;
    out.set(s.tensor, dims);
  }
  return out;
}

/**
 * Write the pruned model with onnx-io's one model writer: tensor by tensor, each sliced weight is read
 * (by offset, from external data) and sliced through two reused buffers, everything else is copied.
 */
async function writePrunedModel(
  model: ModelProto,
  source: LoadedModel,
  outPath: string,
  opts: {
    externalData: boolean;
    slices: Map<string, WeightSlice>;
    /** weights written from a reconstruction instead of sliced from the source */
    refit: Map<string, ReconstructedProjection>;
    sidecars: Array<{ path: string; data: (w: { dataPath?: string }) => string }>;
    onProgress: (p: { done: number; total: number; tensor: string }) => void;
  },
): Promise<SaveModelResult> {
  if (resolve(source.path) === resolve(outPath)) {
    throw new SurgeryError(`the output ${outPath} is the input model: write the pruned model to another path`);
  }
  const dataPath = `${resolve(outPath)}.data`;
  const externals = collectTensors(model).map((s) => s.tensor).filter(isExternal);
  if ((await tensorReadingFrom(externals, source.dir, dataPath))) {
    throw new SurgeryError(`the output data file ${dataPath} is the input model's data file: write the pruned model to another folder or name`);
  }
  const pool = new BufferPool();
  return saveModel(model, outPath, {
    sourceDir: source.dir,
    externalData: opts.externalData ? {} : false,
    transform: async (tensor, ctx) => {
      const slice = ctx.initializer ? opts.slices.get(tensor.name ?? '') : undefined;
      if (!slice) return undefined;
      const p = opts.refit.get(tensor.name ?? '');
      if (p) return refitBytes(p, tensor, slice);
      const length = tensorByteLength(tensor);
      // reused buffers: garbage does not pile up between collections
      const src = isExternal(tensor) ? await ctx.read(pool.input(length)) : inlineTensorBytes(tensor);
      const size = elementSize(tensor.dataType ?? 0);
      const s = sliceAxis(src, tensorDims(tensor), size, slice.axis, slice.keep, tensor.name ?? '?', pool.output((length / slice.size) * slice.keep.length));
      return { bytes: s.bytes, dims: s.dims, reused: true };
    },
    sidecars: (w) => opts.sidecars.map((f) => ({ path: f.path, data: f.data(w.dataPath ? { dataPath: w.dataPath } : {}) })),
    onProgress: opts.onProgress,
  });
}

/** A reconstruction's refit weight in the tensor's storage type and layout ([in, out], or [out, in] for Gemm transB). */
export function refitBytes(p: ReconstructedProjection, tensor: TensorProto, slice: WeightSlice): { bytes: Uint8Array; dims: number[] } {
  const dims = tensorDims(tensor);
  dims[slice.axis] = slice.keep.length;
  const k = p.keep.length;
  const m = p.outFeatures;
  const w = p.weight();
  if (w.length !== k * m || dims[0]! * dims[1]! !== k * m) {
    throw new SurgeryError(`refit weight of layer ${p.layer} ${p.block} has ${w.length} values; "${tensor.name}" is [${dims}] once sliced`);
  }
  let values: Float32Array = w;
  if (slice.axis === 1) {
    // stored [out, in]: transpose [k][m] into [m][k]
    values = new Float32Array(k * m);
    for (let a = 0; a < k; a++) for (let o = 0; o < m; o++) values[o * k + a] = w[a * m + o]!;
  }
  return { bytes: encodeFloats(values, tensor.dataType ?? 1), dims };
}

/** Two growable buffers (source bytes, sliced bytes), sized by the largest tensor seen. */
class BufferPool {
  private a = new Uint8Array(0);
  private b = new Uint8Array(0);
  input(n: number): Uint8Array {
    if (this.a.length < n) this.a = new Uint8Array(n);
    return this.a.subarray(0, n);
  }
  output(n: number): Uint8Array {
    if (this.b.length < n) this.b = new Uint8Array(n);
    return this.b.subarray(0, n);
  }
}
