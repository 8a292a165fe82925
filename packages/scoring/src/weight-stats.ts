/**
 * Statistics of the model's own weights, computed in ONNX Runtime on the scoring EP before or after the
 * probe runs: the per-head Gram matrices of o_proj that the probe bakes in (probe/head-gram.ts) and a
 * projection's per-input sums of squares (llm-bip's ||W_down[k,:]||). The session's graph holds the
 * weights as the model's own initializers, as the spectral norms' products do (gram-group.ts): with
 * external data they reference the model's data file by offset, so no weight passes through JavaScript
 * and fp16/bf16 stay as stored until a Cast in the graph.
 *
 * Both accumulate in float64 (Cast to double, then MatMul / ReduceSumSquare; ORT's CPU and CUDA EPs
 * register both for double), so they equal the float64 JavaScript references up to summation order:
 * the Gram matrices, rounded once to float32, bit for bit (unless a sum lies within ~1e-16 of a float32
 * rounding boundary); the sums of squares within a few ulps (every square of an fp16/fp32 weight is exact
 * in float64, only the additions round).
 *
 * One run per group of layers (the groups fit the memory budget, gram-group.ts `gramGroups`), every
 * output fetched at once; graph optimisation is off so ORT does not constant-fold the whole graph (all
 * of it is initializers) on the CPU at session creation, and the CPU EP does not pre-pack the weights.
 */
import { DataType, type LoadedModel, type ModelProto, type NodeProto, type TensorProto, type ValueInfoProto } from '@llm-bip/onnx-io';
import type { LayerSpec, LinearRef, ModelSpec } from '@llm-bip/model';
import { createSession } from '@llm-bip/runtime';
import { epMemoryProfile, formatBytes, resolveBudget } from './blockwise/schedule.js';
import { ScoringError } from './errors.js';
import { gramGroups, initializersByName, sliceColumns, storedLinear, type GramGroup, type GroupItem } from './gram-group.js';
import { writeProbeFile } from './probe/probe-file.js';
import type { ScoreCompute } from './types.js';

/** The projections of a layer a weight statistic can read. */
export type Projection = 'q' | 'k' | 'v' | 'o' | 'gate' | 'up' | 'down';

/**
 * One statistic of one layer's weight:
 * - `headGram`: G_h = W_o^(h)T W_o^(h) for every query head h, [numHeads, headDim, headDim] float32
 *   (float64 products, one rounding), in the canonical [in][out] layout: head h's headDim input rows;
 * - `inputSquares`: sum over output features of W[i, o]^2 for every input feature i, [in] float64.
 */
export type WeightStat = { layer: number; kind: 'headGram' } | { layer: number; kind: 'inputSquares'; projection: Projection };

interface Item extends GroupItem {
  stat: WeightStat;
  ref: LinearRef;
  rows: number;
  cols: number;
  /** headGram: heads and head size */
  heads?: { numHeads: number; headDim: number };
}

const statKey = (s: WeightStat): string => (s.kind === 'headGram' ? `${s.layer}.headGram` : `${s.layer}.inputSquares.${s.projection}`);

/** The results by statistic: Float32Array for headGram, Float64Array for inputSquares. */
export class WeightStatistics {
  constructor(private readonly values: ReadonlyMap<string, Float32Array | Float64Array>) {}

  headGram(layer: number): Float32Array {
    return this.get({ layer, kind: 'headGram' }) as Float32Array;
  }

  inputSquares(layer: number, projection: Projection): Float64Array {
    return this.get({ layer, kind: 'inputSquares', projection }) as Float64Array;
  }

  private get(s: WeightStat): Float32Array | Float64Array {
    const v = this.values.get(statKey(s));
    if (!v) throw new RangeError(`weight statistic ${statKey(s)} was not computed`);
    return v;
  }
}

function resolveItems(model: ModelProto, spec: ModelSpec, stats: readonly WeightStat[]): Item[][] {
  const byName = initializersByName(model);
  const byLayer = new Map<number, Item[]>();
  for (const stat of stats) {
    const layer: LayerSpec | undefined = spec.layers.find((l) => l.index === stat.layer);
    if (!layer) throw new ScoringError(`weight statistic for layer ${stat.layer}: the model has ${spec.numLayers} layers`);
    const projection = stat.kind === 'headGram' ? 'o' : stat.projection;
    const ref = layer[projection];
    const { tensor, rows, cols } = storedLinear(byName, ref, `layer ${layer.index} ${projection}`);
    const inF = ref.outAxis === 1 ? rows : cols;
    let heads: Item['heads'];
    if (stat.kind === 'headGram') {
      const { numHeads: H, headDim: D } = layer;
      if (inF !== H * D) throw new ScoringError(`layer ${layer.index}: o_proj takes ${inF} inputs, expected numHeads*headDim = ${H * D}: the spec does not fit this weight`);
      heads = { numHeads: H, headDim: D };
    }
    // float64 copies while the item's nodes run: the cast (and for a Gram its transposed operand) and the output
    const elems = rows * cols;
    const workBytes = stat.kind === 'headGram' ? 8 * (2 * elems + layer.numHeads * layer.headDim ** 2) : 8 * (elems + inF);
    const item: Item = { layer: layer.index, name: stat.kind === 'headGram' ? 'o Gram' : `${projection} squares`, tensor, workBytes, stat, ref, rows, cols, ...(heads ? { heads } : {}) };
    byLayer.set(layer.index, [...(byLayer.get(layer.index) ?? []), item]);
  }
  return [...byLayer.entries()].sort((a, b) => a[0] - b[0]).map(([, items]) => items);
}

const outputName = (i: number): string => `s${i}`;

function int64Const(name: string, values: number[]): TensorProto {
  const data = BigInt64Array.from(values.map(BigInt));
  return { name, dims: [values.length], dataType: DataType.INT64, rawData: new Uint8Array(data.buffer) } as TensorProto;
}

function output(name: string, elemType: number, dims: number[]): ValueInfoProto {
  return { name, type: { tensorType: { elemType, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } } as ValueInfoProto;
}

/** The group's graph: per item Slice? -> Cast<double> -> (Reshape, Transpose, MatMul, Cast<float>) | ReduceSumSquare. */
export function weightStatsGraph(group: GramGroup<Item>): ModelProto {
  const nodes: NodeProto[] = [];
  const initializers = new Map<string, TensorProto>();
  const constants: TensorProto[] = [];
  const outputs: ValueInfoProto[] = [];
  const to = (t: number) => [{ name: 'to', type: 2, i: t }];
  const node = (opType: string, name: string, input: string[], out: string, attribute?: unknown[]) => nodes.push({ opType, name, input, output: [out], ...(attribute ? { attribute } : {}) } as NodeProto);
  group.matrices.forEach((m, i) => {
    const p = `w${i}_`;
    initializers.set(m.tensor.name!, m.tensor);
    const a = sliceColumns(m.tensor.name!, m.ref, p, nodes, constants);
    node('Cast', `${p}double`, [a], `${p}f64`, to(DataType.DOUBLE));
    const [inF, outF] = m.ref.outAxis === 1 ? [m.rows, m.cols] : [m.cols, m.rows];
    if (m.stat.kind === 'inputSquares') {
      node('ReduceSumSquare', `${p}squares`, [`${p}f64`], outputName(i), [
        { name: 'axes', type: 7, ints: [m.ref.outAxis] },
        { name: 'keepdims', type: 2, i: 0 },
      ]);
      outputs.push(output(outputName(i), DataType.DOUBLE, [inF]));
      return;
    }
    const { numHeads: H, headDim: D } = m.heads!;
    // W3 [H, D, out]: head h's input rows (stored [in, out]: a reshape; stored [out, in]: reshape then move out last)
    let w3: string;
    if (m.ref.outAxis === 1) {
      constants.push(int64Const(`${p}shape`, [H, D, outF]));
      node('Reshape', `${p}heads`, [`${p}f64`, `${p}shape`], (w3 = `${p}w3`));
    } else {
      constants.push(int64Const(`${p}shape`, [outF, H, D]));
      node('Reshape', `${p}heads`, [`${p}f64`, `${p}shape`], `${p}ohd`);
      node('Transpose', `${p}hdo`, [`${p}ohd`], (w3 = `${p}w3`), [{ name: 'perm', type: 7, ints: [1, 2, 0] }]);
    }
    node('Transpose', `${p}wt`, [w3], `${p}w3t`, [{ name: 'perm', type: 7, ints: [0, 2, 1] }]);
    node('MatMul', `${p}gram`, [w3, `${p}w3t`], `${p}gd`);
    node('Cast', `${p}float`, [`${p}gd`], outputName(i), to(DataType.FLOAT));
    outputs.push(output(outputName(i), DataType.FLOAT, [H, D, D]));
  });
  return {
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    producerName: 'llm-bip weight statistics',
    graph: { name: `weight_stats_layers_${group.first}_${group.last}`, node: nodes, input: [], output: outputs, initializer: [...initializers.values(), ...constants] },
  } as ModelProto;
}

export interface WeightStatsOptions {
  /** a line per group when there are several, and the first session's EP line */
  onLog?: (line: string) => void;
}

/**
 * Compute `stats` for `model` on `site.ep` (default 'auto'): the layers in groups that fit
 * `site.maxDeviceMemory` (all in one without a budget), one session and one run per group.
 */
export async function weightStatistics(spec: ModelSpec, site: ScoreCompute, stats: readonly WeightStat[], opts: WeightStatsOptions = {}): Promise<WeightStatistics> {
  const values = new Map<string, Float32Array | Float64Array>();
  if (stats.length === 0) return new WeightStatistics(values);
  const ep = site.ep ?? 'auto';
  const log = opts.onLog ?? (() => {});
  const budget = site.maxDeviceMemory === undefined ? undefined : resolveBudget(site.maxDeviceMemory, ep);
  const groups = gramGroups(resolveItems(site.model.model, spec, stats), budget?.bytes, budget ? epMemoryProfile(budget.ep) : undefined, 'the weight statistics');
  if (groups.length > 1) log(`weight statistics: ${groups.length} sessions of layers (${budget!.source}: ${formatBytes(budget!.bytes!)})`);
  // said before each run, even a single one: at 7B width on a CPU EP a run takes seconds with no other line
  const what = [...new Set(stats.map((s) => (s.kind === 'headGram' ? 'head Gram matrices' : `${s.projection} input norms`)))].join(', ');
  for (const [g, group] of groups.entries()) {
    log(`weight statistics (${what}): session ${g + 1}/${groups.length}, ${group.label}: weights ${formatBytes(group.weightBytes)}, estimate ${formatBytes(group.totalBytes)}`);
    await runGroup(site.model, group, { ep, ...(site.threads ? { threads: site.threads } : {}), ...(g === 0 && opts.onLog ? { onLog: (l: string) => log(`weight statistics: ${l}`) } : {}) }, values);
  }
  return new WeightStatistics(values);
}

async function runGroup(loaded: LoadedModel, group: GramGroup<Item>, sessionOpts: Pick<ScoreCompute, 'ep' | 'threads'> & { onLog?: (l: string) => void }, into: Map<string, Float32Array | Float64Array>): Promise<void> {
  const file = await writeProbeFile(weightStatsGraph(group), loaded.dir);
  try {
    // see the file comment: no constant folding at creation, no packed copies
    const session = await createSession(file, { ...sessionOpts, graphOptimization: 'disabled', prepack: false });
    try {
      const out = await session.run({}, group.matrices.map((_, i) => outputName(i)));
      group.matrices.forEach((m, i) => into.set(statKey(m.stat), out[outputName(i)]!.data as Float32Array | Float64Array));
    } finally {
      await session.release();
    }
  } finally {
    await file.cleanup();
  }
}
