/**
 * Gram products x -> G x of many weight matrices at once, in one ORT session on the scoring EP (the
 * spectral norms' lockstep products, see spectral.ts). The session's graph holds the group's FFN
 * weights as the model's own initializers: with external data they reference the model's data file by
 * offset (the probe's in-memory placement, probe-file.ts), so no weight passes through JavaScript and
 * fp16/bf16 stay as stored; a Cast to float32 in the graph feeds the MatMuls.
 *
 * The session runs with graph optimisation disabled: at any level ORT constant-folds Cast(initializer)
 * into a float32 initializer, a persistent float32 copy of every fp16 weight (twice the model's FFN);
 * the products gain nothing from the rewrites. Unfolded, each Cast's float32 output lives only while
 * its matrix's two MatMuls run. Nor does the CPU EP pre-pack W (runtime's `prepack: false`): packing
 * is for batched products and would copy every weight.
 *
 * Per matrix, stored A [r, c] (after the column slice of a fused weight), the smaller Gram matrix:
 *   c <= r: y = (x A^T) A  = A^T A x, x in R^c;   else: y = (x A) A^T = A A^T x, x in R^r.
 * Both have the top eigenvalue ||A||_2^2, whichever axis of A indexes outputs.
 */
import { DataType, tensorByteLength, tensorDims, type LoadedModel, type ModelProto, type NodeProto, type TensorProto, type ValueInfoProto } from '@llm-bip/onnx-io';
import type { LinearRef, ModelSpec } from '@llm-bip/model';
import { createSession, ort, type EpChoice, type Session } from '@llm-bip/runtime';
import { epMemoryProfile, formatBytes, sessionMemory, type EpMemoryProfile, type SessionMemory } from './blockwise/schedule.js';
import { ScoringError } from './errors.js';
import { writeProbeFile } from './probe/probe-file.js';

export type FfnMatrix = 'down' | 'gate' | 'up';
export const FFN_MATRICES: readonly FfnMatrix[] = ['down', 'gate', 'up'];

/** One matrix of a group: where it is stored and the Gram product's shape. */
export interface GramMatrix {
  layer: number;
  name: FfnMatrix;
  ref: LinearRef;
  /** the stored initializer */
  tensor: TensorProto;
  /** stored dims after the column slice */
  rows: number;
  cols: number;
  /** length of x and y */
  size: number;
  /** bytes of the float32 working copy (Cast and/or Slice output); 0 for an unsliced float32 weight */
  workBytes: number;
}

/** What budget grouping needs of a matrix (the spectral norms' GramMatrix, weight-stats.ts' items). */
export interface GroupItem {
  layer: number;
  name: string;
  /** the stored initializer (counted once per group however many items share it) */
  tensor: TensorProto;
  /** bytes of the item's working copies while its nodes run */
  workBytes: number;
}

/**
 * Consecutive layers (or, when one layer alone exceeds the budget, some of its matrices) sharing one
 * session. Its memory (SessionMemory): the distinct initializers the group holds, as stored; the two
 * largest working copies (a Slice output and its Cast) as the live tensors; the EP's reserve and
 * fixed part (blockwise/schedule.ts sessionMemory, the formula the probe's segments use).
 */
export interface GramGroup<M extends GroupItem = GramMatrix> extends SessionMemory {
  first: number;
  last: number;
  /** "layers 0-15", or "layer 7 gate, up" for part of a layer */
  label: string;
  matrices: M[];
}

/** A projection weight as stored: its initializer and its dims after the column slice of a fused weight. */
export interface StoredLinear {
  tensor: TensorProto;
  rows: number;
  cols: number;
  /** a column range of a larger (fused) initializer */
  sliced: boolean;
}

/** The model's initializers by name, for `storedLinear`. */
export function initializersByName(model: ModelProto): Map<string, TensorProto> {
  const byName = new Map<string, TensorProto>();
  for (const t of model.graph?.initializer ?? []) if (t.name) byName.set(t.name, t);
  return byName;
}

/** Resolve `ref` against the initializers; `what` ("layer 3 down") names it in errors. */
export function storedLinear(byName: ReadonlyMap<string, TensorProto>, ref: LinearRef, what: string): StoredLinear {
  const tensor = byName.get(ref.weight);
  if (!tensor) throw new ScoringError(`initializer "${ref.weight}" (${what}) is not in the model: the spec was recognised from a different model file`);
  const dims = tensorDims(tensor);
  if (dims.length !== 2) throw new ScoringError(`weight "${ref.weight}" has dims [${dims}], expected a 2-D matrix`);
  const outAll = dims[ref.outAxis]!;
  const start = ref.columns?.start ?? 0;
  const end = ref.columns?.end ?? outAll;
  if (start < 0 || end > outAll || start >= end) throw new ScoringError(`weight "${ref.weight}": column range ${start}..${end} is outside its ${outAll} output features`);
  const rows = ref.outAxis === 0 ? end - start : dims[0]!;
  const cols = ref.outAxis === 1 ? end - start : dims[1]!;
  return { tensor, rows, cols, sliced: start !== 0 || end !== outAll };
}

/** The FFN matrices of every layer, resolved against the model's initializers. */
export function ffnMatrices(model: ModelProto, spec: ModelSpec): GramMatrix[][] {
  const byName = initializersByName(model);
  return spec.layers.map((l) =>
    FFN_MATRICES.map((name) => {
      const ref = l[name];
      const { tensor, rows, cols, sliced } = storedLinear(byName, ref, `layer ${l.index} ${name}`);
      const converted = sliced || tensor.dataType !== DataType.FLOAT;
      return { layer: l.index, name, ref, tensor, rows, cols, size: Math.min(rows, cols), workBytes: converted ? 4 * rows * cols : 0 };
    }),
  );
}

function groupOf<M extends GroupItem>(matrices: M[], whole: boolean, profile: EpMemoryProfile): GramGroup<M> {
  const distinct = new Map<TensorProto, number>();
  for (const m of matrices) distinct.set(m.tensor, tensorByteLength(m.tensor));
  const weightBytes = [...distinct.values()].reduce((a, b) => a + b, 0);
  const work = matrices.map((m) => m.workBytes).sort((a, b) => b - a);
  const first = matrices[0]!.layer;
  const last = matrices[matrices.length - 1]!.layer;
  const label = whole ? `layers ${first}-${last}` : `layer ${first} ${matrices.map((m) => m.name).join(', ')}`;
  return { first, last, label, matrices, ...sessionMemory(profile, weightBytes, (work[0] ?? 0) + (work[1] ?? 0)) };
}

/**
 * As many consecutive layers per group as fit `budgetBytes` (all of them in one group without a
 * budget). A layer that does not fit alone is split into groups of its matrices (the probe, block by
 * block, needs a whole block to fit, so this is rare); refused, before any session, when one matrix
 * alone does not fit. `what` names the computation in that refusal.
 */
export function gramGroups<M extends GroupItem>(layers: M[][], budgetBytes?: number, profile: EpMemoryProfile = epMemoryProfile('cpu'), what = 'the spectral norm'): Array<GramGroup<M>> {
  if (budgetBytes === undefined) return [groupOf(layers.flat(), true, profile)];
  const groups: Array<GramGroup<M>> = [];
  let current: M[] = [];
  const flush = (whole: boolean) => {
    if (current.length > 0) groups.push(groupOf(current, whole, profile));
    current = [];
  };
  for (const layer of layers) {
    if (groupOf(layer, true, profile).totalBytes <= budgetBytes) {
      if (current.length > 0 && groupOf([...current, ...layer], true, profile).totalBytes > budgetBytes) flush(true);
      current.push(...layer);
      continue;
    }
    flush(true);
    for (const m of layer) {
      const alone = groupOf([m], false, profile);
      if (alone.totalBytes > budgetBytes) {
        throw new ScoringError(
          `--max-device-memory ${formatBytes(budgetBytes)} is below what ${what} of layer ${m.layer} ${m.name} alone needs: about ${formatBytes(alone.totalBytes)} on the ${profile.ep} EP (the weight ${formatBytes(alone.weightBytes)}, its working copies ${formatBytes(alone.activationBytes + alone.reserveBytes)} with the allocator's reserve${alone.overheadBytes ? `, the EP's own ${formatBytes(alone.overheadBytes)}` : ''}). Give at least ${formatBytes(alone.totalBytes)}.`,
        );
      }
      if (current.length > 0 && groupOf([...current, m], false, profile).totalBytes > budgetBytes) flush(false);
      current.push(m);
    }
    flush(false);
  }
  flush(true);
  return groups;
}

function floatValue(name: string, dims: number[]): ValueInfoProto {
  return { name, type: { tensorType: { elemType: DataType.FLOAT, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } } as ValueInfoProto;
}

function int64Initializer(name: string, values: number[]): TensorProto {
  const data = BigInt64Array.from(values.map(BigInt));
  return { name, dims: [values.length], dataType: DataType.INT64, rawData: new Uint8Array(data.buffer) } as TensorProto;
}

/** The weight's column range of a fused initializer: a Slice node (and its constants) when `ref` has one; the tensor to read. */
export function sliceColumns(weight: string, ref: LinearRef, prefix: string, nodes: NodeProto[], constants: TensorProto[]): string {
  if (!ref.columns) return weight;
  constants.push(int64Initializer(`${prefix}starts`, [ref.columns.start]), int64Initializer(`${prefix}ends`, [ref.columns.end]), int64Initializer(`${prefix}axes`, [ref.outAxis]));
  nodes.push({ opType: 'Slice', name: `${prefix}slice`, input: [weight, `${prefix}starts`, `${prefix}ends`, `${prefix}axes`], output: [`${prefix}sliced`] } as NodeProto);
  return `${prefix}sliced`;
}

/** Input / output names of matrix i of a group graph. */
export const gramInput = (i: number): string => `x${i}`;
export const gramOutput = (i: number): string => `y${i}`;

/** The group's graph: the model's initializers (by reference), per matrix Slice?/Cast?, then two products. */
export function gramGroupGraph(group: GramGroup): ModelProto {
  const nodes: NodeProto[] = [];
  const initializers = new Map<string, TensorProto>();
  const constants: TensorProto[] = [];
  const transB = [{ name: 'transB', type: 2, i: 1 }];
  group.matrices.forEach((m, i) => {
    const p = `m${i}_`;
    initializers.set(m.tensor.name!, m.tensor);
    let a = sliceColumns(m.tensor.name!, m.ref, p, nodes, constants);
    if (m.tensor.dataType !== DataType.FLOAT) {
      nodes.push({ opType: 'Cast', name: `${p}cast`, input: [a], output: [`${p}f32`], attribute: [{ name: 'to', type: 2, i: DataType.FLOAT }] } as NodeProto);
      a = `${p}f32`;
    }
    const [x, y] = [gramInput(i), gramOutput(i)];
    if (m.cols <= m.rows) {
      nodes.push({ opType: 'Gemm', name: `${p}xat`, input: [x, a], output: [`${p}t`], attribute: transB } as NodeProto, { opType: 'MatMul', name: `${p}ta`, input: [`${p}t`, a], output: [y] } as NodeProto);
    } else {
      nodes.push({ opType: 'MatMul', name: `${p}xa`, input: [x, a], output: [`${p}t`] } as NodeProto, { opType: 'Gemm', name: `${p}tat`, input: [`${p}t`, a], output: [y], attribute: transB } as NodeProto);
    }
  });
  return {
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    producerName: 'llm-bip spectral norms',
    graph: {
      name: `gram_layers_${group.first}_${group.last}`,
      node: nodes,
      input: group.matrices.map((m, i) => floatValue(gramInput(i), [1, m.size])),
      output: group.matrices.map((m, i) => floatValue(gramOutput(i), [1, m.size])),
      initializer: [...initializers.values(), ...constants],
    },
  } as ModelProto;
}

export interface GramGroupOptions {
  ep?: EpChoice;
  threads?: number;
  /** the session's execution-provider line */
  onLog?: (line: string) => void;
}

/** One group's session: `apply` multiplies every given vector by its matrix's Gram matrix in one run. */
export class GramGroupSession {
  private constructor(
    readonly group: GramGroup,
    private readonly session: Session,
  ) {}

  get ep(): string {
    return this.session.ep;
  }

  static async open(loaded: LoadedModel, group: GramGroup, opts: GramGroupOptions = {}): Promise<GramGroupSession> {
    const file = await writeProbeFile(gramGroupGraph(group), loaded.dir);
    try {
      const session = await createSession(file, {
        ...(opts.ep ? { ep: opts.ep } : {}),
        ...(opts.threads ? { threads: opts.threads } : {}),
        ...(opts.onLog ? { onLog: opts.onLog } : {}),
        // see the file comment: no folded float32 copies, no packed copies
        graphOptimization: 'disabled',
        prepack: false,
      });
      return new GramGroupSession(group, session);
    } finally {
      await file.cleanup();
    }
  }

  /**
   * G x for every matrix i with `x[i]` given; undefined entries are not computed (their input is fed
   * zeros, their output not asked for: ORT runs only the nodes the asked outputs need).
   */
  async apply(x: Array<Float64Array | undefined>): Promise<Array<Float64Array | undefined>> {
    const feeds: Record<string, ort.Tensor> = {};
    const wanted: string[] = [];
    this.group.matrices.forEach((m, i) => {
      const v = x[i];
      feeds[gramInput(i)] = new ort.Tensor('float32', v ? Float32Array.from(v) : new Float32Array(m.size), [1, m.size]);
      if (v) wanted.push(gramOutput(i));
    });
    if (wanted.length === 0) return x.map(() => undefined);
    const out = await this.session.run(feeds, wanted);
    return x.map((v, i) => (v ? Float64Array.from(out[gramOutput(i)]!.data as Float32Array) : undefined));
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
