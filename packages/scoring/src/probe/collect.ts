/**
 * Statistics collection: build the probe, run the calibration rows through it in batches on the
 * chosen execution provider, accumulate the per-row tap outputs (or, for reconstruction, the projection
 * inputs' second moments) in float64 on the host. The probe runs whole in one session, or block by block
 * (../blockwise) when a memory budget or a number of blocks per session asks for it and the whole probe
 * does not fit.
 */
import { loadModel, mostlyHalfPrecision, tensorByteLength, toNumber, type LoadedModel, type ModelProto } from '@llm-bip/onnx-io';
import { batchForFixedDims, fixedDimsOf, type InputMoments, type ModelSpec } from '@llm-bip/model';
import { chunk, createSession, makeTokenBatch, resolveEp, toFloat32, type EpChoice, type Session, type TokenBatch } from '@llm-bip/runtime';
import { ScoringError } from '../errors.js';
import { baseTaps, StatisticsAccumulator, uniqueTaps } from '../statistics.js';
import type { ScoreCompute, Statistics, Tap } from '../types.js';
import { BlockwiseProbe, runSegments } from '../blockwise/run.js';
import { describeSegment, formatBytes, probeOutputs, resolveBudget, scheduleByBudget, scheduleByCount, wholeModelBytes, type BlockSchedule, type MemoryBudget } from '../blockwise/schedule.js';
import { buildProbe, type MomentTap, type ProbeModel } from './build-probe.js';
import { probeFeeds } from './feeds.js';
import { writeProbeFile } from './probe-file.js';

export interface CollectOptions {
  /** the model as loaded by the caller (no second decode), or the path of its .onnx file */
  model?: LoadedModel;
  modelPath?: string;
  spec: ModelSpec;
  /** the criterion's taps; the base taps (compensation means, block output norms) are always added */
  taps: Tap[];
  /** calibration rows of token ids, all the same length */
  rows: number[][];
  /** rows per forward pass (default 8) */
  batchSize?: number;
  ep?: EpChoice;
  threads?: number;
  /**
   * Device memory the probe may use (bytes, or 'auto': the device's free memory). The whole probe runs
   * in one session when its estimate fits, else block by block with as many blocks per session as fit.
   * Absent: the whole probe in one session.
   */
  maxDeviceMemory?: MemoryBudget;
  /** block by block with this many blocks per session, whatever the budget (tests, experts) */
  blocksPerSession?: number;
  /** how the probe will run (whole or block by block, segments and estimates), before it does */
  onSchedule?: (s: ExecutionSchedule) => void;
  /** rows done of rows total; block by block counts every segment's pass (rows x segments) */
  onProgress?: (rowsDone: number, rowsTotal: number) => void;
  onLog?: (line: string) => void;
  /** block by block on CUDA: the device memory the process held after each segment (index: 0 = the embedding) */
  onSegmentMemory?: (segment: number, deviceBytes: number) => void;
  /** checked between segments */
  signal?: AbortSignal;
}

/** How collection runs the probe, as reported before it starts. */
export interface ExecutionSchedule {
  mode: 'whole' | 'blockwise';
  /** why this mode (the budget, where it came from, the estimate) */
  reason: string;
  /** estimate of the whole probe's device memory (weights + one block's activations); absent without a budget */
  wholeBytes?: number;
  budgetBytes?: number;
  /** blockwise: the segments and their estimates */
  blockwise?: BlockSchedule;
  batchSize: number;
}

export async function collectStatistics(opts: CollectOptions): Promise<Statistics> {
  const { rows, spec } = opts;
  checkRows(rows);
  const seqLen = rows[0]!.length;
  const taps = uniqueTaps([...baseTaps(spec), ...opts.taps]);
  const loaded = await loadedOf(opts);
  const probe = await buildProbe(loaded.model, spec, taps, weightSite(loaded, opts), opts.onLog ? { onLog: opts.onLog } : {});
  const batchSize = batchSizeFor(graphInputs(loaded), spec, rows.length, seqLen, opts.batchSize ?? 8);
  const execution = chooseExecution(loaded, spec, probe, rows.length, seqLen, batchSize, opts);
  opts.onSchedule?.(execution.schedule);
  if (!execution.blockwise) {
    const acc = new StatisticsAccumulator(taps);
    const ep = await runWhole(loaded, spec, probe.model, probe.outputs.map((o) => o.output), [rows], batchSize, opts, (_set, batchRows, result) => {
      const outputs: Record<string, Float32Array> = {};
      for (const o of probe.outputs) outputs[o.key] = result[o.output]!;
      acc.addBatch(batchRows.length, seqLen, outputs);
    });
    return acc.result(ep);
  }
  const { statistics } = await runBlockwise(execution.blockwise, execution.schedule, taps, [rows], execution.schedule.batchSize, opts);
  return statistics;
}

export interface MomentsOptions extends Omit<CollectOptions, 'taps'> {
  /** which projection inputs (default: o_proj's and down_proj's of every layer) */
  moments?: MomentTap[];
  /** the last `holdoutRows` rows are accumulated apart (for choosing a ridge on tokens the fit did not see) */
  holdoutRows?: number;
}

/** Moments of one projection input: over the fitting rows, and over the held-out rows when asked. */
export interface ProjectionMoments extends MomentTap {
  width: number;
  train: InputMoments;
  holdout?: InputMoments;
}

/**
 * Second moments (Σ xxᵀ, Σ x) of projection inputs over calibration rows, for least-squares
 * reconstruction: the probe sums each batch in float32 inside the graph, the host adds batches in
 * float64. Memory: width² float64 per tapped input and split (down_proj at 7B: 11008² x 8 B = 0.97 GB),
 * plus one batch's float32 outputs; callers with big models ask for a few layers per call. Runs whole or
 * block by block like collectStatistics (same options, same schedule).
 */
export async function collectInputMoments(opts: MomentsOptions): Promise<ProjectionMoments[]> {
  const { rows, spec } = opts;
  checkRows(rows);
  const seqLen = rows[0]!.length;
  const hold = opts.holdoutRows ?? 0;
  if (!Number.isInteger(hold) || hold < 0 || hold >= rows.length) {
    throw new ScoringError(`holdout of ${hold} rows out of ${rows.length}: hold out a whole number of rows, fewer than all (at least one row must remain for the fit)`);
  }
  const wanted = opts.moments ?? spec.layers.flatMap((l) => [{ layer: l.index, tensor: 'attnContext' as const }, { layer: l.index, tensor: 'ffnAct' as const }]);
  const loaded = await loadedOf(opts);
  const blockwiseAsked = opts.maxDeviceMemory !== undefined || opts.blocksPerSession !== undefined;
  // block by block needs every block in the probe: the base taps (tiny outputs) keep them all
  const taps = blockwiseAsked ? uniqueTaps(baseTaps(spec)) : [];
  const probe = await buildProbe(loaded.model, spec, taps, weightSite(loaded, opts), { moments: wanted, ...(opts.onLog ? { onLog: opts.onLog } : {}) });
  const sets = hold > 0 ? [rows.slice(0, rows.length - hold), rows.slice(rows.length - hold)] : [rows];
  const batchSize = setsBatchSize(loaded, spec, sets, opts.batchSize ?? 8);
  const acc = new MomentAccumulator(probe.moments, sets.length, seqLen);
  const execution = chooseExecution(loaded, spec, probe, rows.length, seqLen, batchSize, opts);
  opts.onSchedule?.(execution.schedule);
  if (!execution.blockwise) await runWhole(loaded, spec, probe.model, acc.names, sets, batchSize, opts, (set, batchRows, result) => acc.add(set, batchRows.length, result));
  else await runBlockwise(execution.blockwise, execution.schedule, taps, sets, execution.schedule.batchSize, opts, { names: acc.names, add: (set, n, result) => acc.add(set, n, result) });
  return acc.result();
}

/**
 * The batch size for rows split into sets that are batched apart (fitting rows, held-out rows): the
 * requested one, or the model's fixed batch, which must then fill every set.
 */
export function setsBatchSize(loaded: LoadedModel, spec: ModelSpec, sets: number[][][], requested: number): number {
  const seqLen = sets[0]![0]!.length;
  const held = sets.length > 1;
  const demands = sets.map((s, i) => ({ what: i === 0 ? (held ? 'calibration rows to fit (samples minus the held-out ones)' : 'calibration rows') : 'held-out calibration rows', option: '--seq-len', seqLen, rows: s.length }));
  const inputs = graphInputs(loaded).inputMetadata.map((m) => ({ name: m.name, shape: m.isTensor ? m.shape : [] }));
  return batchForFixedDims(fixedDimsOf(inputs, spec.inputs.inputIds), demands, requested, loaded.path) ?? requested;
}

/** Rows split into sets (fitting, held-out) batched apart, in set order: the batches and each one's set. */
export function batchSets(sets: number[][][], batchSize: number): { batches: TokenBatch[]; setOf: number[] } {
  const batches: TokenBatch[] = [];
  const setOf: number[] = [];
  sets.forEach((rows, s) => {
    for (const r of chunk(rows, batchSize)) {
      batches.push(makeTokenBatch(r));
      setOf.push(s);
    }
  });
  return { batches, setOf };
}

/**
 * Σ xxᵀ and Σ x of a probe's moment outputs, per set of rows, added batch by batch in float64. Block by
 * block, a segment hands over only the moments of its own blocks; the others are skipped.
 */
export class MomentAccumulator {
  private readonly acc: Array<Array<{ tokens: number; gram: Float64Array; sum: Float64Array }>>;
  /** the probe outputs to fetch */
  readonly names: string[];

  constructor(
    private readonly moments: ProbeModel['moments'],
    sets: number,
    private readonly seqLen: number,
  ) {
    this.acc = moments.map((m) => Array.from({ length: sets }, () => ({ tokens: 0, gram: new Float64Array(m.width * m.width), sum: new Float64Array(m.width) })));
    this.names = moments.flatMap((m) => [m.gram, m.sum]);
  }

  add(set: number, rows: number, result: Record<string, Float32Array>): void {
    this.moments.forEach((m, i) => {
      const gram = result[m.gram];
      const sum = result[m.sum];
      if (!gram || !sum) return;
      const a = this.acc[i]![set]!;
      if (gram.length !== a.gram.length || sum.length !== a.sum.length) {
        throw new ScoringError(`probe output for layers.${m.layer}.${m.tensor} has ${gram.length} gram and ${sum.length} sum values, expected ${a.gram.length} and ${a.sum.length}`);
      }
      for (let j = 0; j < gram.length; j++) a.gram[j]! += gram[j]!;
      for (let j = 0; j < sum.length; j++) a.sum[j]! += sum[j]!;
      a.tokens += rows * this.seqLen;
    });
  }

  /** the moments of every tapped input: set 0 as `train`, set 1 (if any) as `holdout` */
  result(): ProjectionMoments[] {
    return this.moments.map((m, i) => ({ layer: m.layer, tensor: m.tensor, width: m.width, train: this.acc[i]![0]!, ...(this.acc[i]!.length > 1 ? { holdout: this.acc[i]![1]! } : {}) }));
  }
}

function checkRows(rows: number[][]): void {
  if (rows.length === 0) throw new ScoringError('no calibration rows: sample some with sampleCalibration');
  const seqLen = rows[0]!.length;
  if (rows.some((r) => r.length !== seqLen)) throw new ScoringError('calibration rows differ in length: every row must have seqLen tokens (no padding)');
}

/** Where the probe's weight statistics (the head Gram matrices) run: the collection's EP, under its budget. */
function weightSite(loaded: LoadedModel, opts: Pick<CollectOptions, 'ep' | 'threads' | 'maxDeviceMemory'>): ScoreCompute {
  return { model: loaded, ...(opts.ep ? { ep: opts.ep } : {}), ...(opts.threads ? { threads: opts.threads } : {}), ...(opts.maxDeviceMemory !== undefined ? { maxDeviceMemory: opts.maxDeviceMemory } : {}) };
}

async function loadedOf(opts: { model?: LoadedModel; modelPath?: string }): Promise<LoadedModel> {
  if (!opts.model && !opts.modelPath) throw new ScoringError('collecting statistics: give model (a LoadedModel) or modelPath');
  return opts.model ?? (await loadModel(opts.modelPath!));
}

/** Whole in one session, or block by block (with the probe cut into blocks), and why. */
function chooseExecution(
  loaded: LoadedModel,
  spec: ModelSpec,
  probe: ProbeModel,
  rows: number,
  seqLen: number,
  batchSize: number,
  opts: Pick<CollectOptions, 'maxDeviceMemory' | 'blocksPerSession' | 'ep'>,
): { schedule: ExecutionSchedule; blockwise?: BlockwiseProbe } {
  if (opts.maxDeviceMemory === undefined && opts.blocksPerSession === undefined) {
    return { schedule: { mode: 'whole', reason: 'no memory budget given', batchSize } };
  }
  const batch = Math.min(batchSize, rows);
  const base = {
    spec,
    batch,
    seqLen,
    blockOutputs: probeOutputs(spec, probe.outputs.map((o) => o.tap), probe.moments),
    batchFixed: fixedDimsOf(graphInputs(loaded).inputMetadata.map((m) => ({ name: m.name, shape: m.isTensor ? m.shape : [] })), spec.inputs.inputIds).batch !== undefined,
  };
  if (opts.blocksPerSession !== undefined) {
    // the block analysis refuses graphs it cannot cut before anything runs
    const bw = BlockwiseProbe.fromProbe(loaded, spec, probe);
    const input = { ...base, weights: bw.blocks.weightBytes(), ep: resolveEp(opts.ep ?? 'auto') };
    const blockwise = scheduleByCount(input, opts.blocksPerSession);
    return { schedule: { mode: 'blockwise', reason: `${opts.blocksPerSession} block(s) per session, as asked`, wholeBytes: wholeModelBytes(input), blockwise, batchSize }, blockwise: bw };
  }
  const budget = resolveBudget(opts.maxDeviceMemory!, opts.ep ?? 'auto');
  const weights = { embedding: 0, blocks: [(probe.model.graph?.initializer ?? []).reduce((a, t) => a + tensorByteLength(t), 0)] };
  // every weight, one block's activations (ORT reuses them block to block), every block's outputs
  const wholeBytes = wholeModelBytes({ ...base, weights, ep: budget.ep });
  const whole = (reason: string) => ({ schedule: { mode: 'whole' as const, reason, wholeBytes, ...(budget.bytes !== undefined ? { budgetBytes: budget.bytes } : {}), batchSize } });
  if (budget.bytes === undefined) return whole(`${budget.source}: the whole model in one session`);
  if (wholeBytes <= budget.bytes) return whole(`the whole probe (about ${formatBytes(wholeBytes)} on the ${budget.ep} EP) fits ${formatBytes(budget.bytes)} (${budget.source})`);
  let bw: BlockwiseProbe;
  try {
    bw = BlockwiseProbe.fromProbe(loaded, spec, probe);
  } catch (e) {
    // a budget the user did not name (auto) does not stop a model that cannot be cut: it runs whole, as before
    if (opts.maxDeviceMemory === 'auto' && e instanceof ScoringError) {
      return whole(`the whole probe (about ${formatBytes(wholeBytes)}) may not fit ${formatBytes(budget.bytes)} (${budget.source}), but the graph cannot be cut into blocks (${e.message})`);
    }
    throw e;
  }
  const blockwise = scheduleByBudget({ ...base, weights: bw.blocks.weightBytes(), ep: budget.ep }, budget.bytes);
  const lowered = blockwise.batch < blockwise.requestedBatch ? `; batch lowered from ${blockwise.requestedBatch} to ${blockwise.batch} rows so that one block fits` : '';
  return {
    schedule: {
      mode: 'blockwise',
      reason: `the whole probe (about ${formatBytes(wholeBytes)} on the ${budget.ep} EP) exceeds ${formatBytes(budget.bytes)} (${budget.source})${lowered}`,
      wholeBytes,
      budgetBytes: budget.bytes,
      blockwise,
      batchSize: blockwise.batch,
    },
    blockwise: bw,
  };
}

/**
 * Block by block over sets of rows (each set batched on its own, so no batch mixes two sets): the taps'
 * statistics over all sets; `moments` receives every batch's moment outputs with its set.
 */
async function runBlockwise(
  bw: BlockwiseProbe,
  schedule: ExecutionSchedule,
  taps: Tap[],
  sets: number[][][],
  batchSize: number,
  opts: Omit<CollectOptions, 'taps' | 'spec' | 'rows'>,
  moments?: { names: string[]; add: (set: number, rows: number, outputs: Record<string, Float32Array>) => void },
): Promise<{ statistics: Statistics }> {
  const { batches, setOf } = batchSets(sets, batchSize);
  const total = sets.reduce((n, s) => n + s.length, 0);
  const rowsBefore = batches.map((_, b) => batches.slice(0, b).reduce((n, x) => n + x.batch, 0));
  const segments = schedule.blockwise!.ranges.length + 1;
  let current = 0;
  const { statistics } = await runSegments(bw, schedule.blockwise!.ranges, taps, batches, {
    ...(opts.ep ? { ep: opts.ep } : {}),
    ...(opts.threads ? { threads: opts.threads } : {}),
    keepFp16Weights: mostlyHalfPrecision(bw.loaded.model),
    ...(opts.onLog ? { onLog: opts.onLog } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(moments ? { extraOutputs: moments.names, onExtraOutputs: (b: number, outputs: Record<string, Float32Array>) => moments.add(setOf[b]!, batches[b]!.batch, outputs) } : {}),
    onSegment: (seg, of) => {
      current = seg.index;
      opts.onLog?.(`segment ${seg.index + 1}/${of}: ${describeSegment(schedule.blockwise!.segments[seg.index]!)}`);
    },
    onSegmentDone: (seg, bytes) => {
      if (bytes === undefined) return;
      opts.onLog?.(`segment ${seg.index + 1}/${segments} done: device memory held ${formatBytes(bytes)}, estimate ${formatBytes(schedule.blockwise!.segments[seg.index]!.totalBytes)}`);
      opts.onSegmentMemory?.(seg.index, bytes);
    },
    onBatch: (done) => opts.onProgress?.(current * total + rowsBefore[done - 1]! + batches[done - 1]!.batch, total * segments),
  });
  return { statistics };
}

/**
 * Run a whole probe model in one session over sets of rows (each set batched on its own, so no batch
 * mixes two sets) and hand each batch's outputs, as float32, to `onBatch`. Returns the execution
 * provider that ran it.
 */
async function runWhole(
  loaded: LoadedModel,
  spec: ModelSpec,
  probe: ModelProto,
  names: string[],
  sets: number[][][],
  batchSize: number,
  opts: Pick<CollectOptions, 'ep' | 'threads' | 'onProgress' | 'onLog'>,
  onBatch: (set: number, rows: number[][], outputs: Record<string, Float32Array>) => void,
): Promise<string> {
  const file = await writeProbeFile(probe, loaded.dir);
  try {
    const session = await createSession(file, {
      ...(opts.ep ? { ep: opts.ep } : {}),
      ...(opts.threads ? { threads: opts.threads } : {}),
      // fp16/bf16 models on the CPU EP: no float32 copies of the weights (runtime's keepFp16Weights)
      keepFp16Weights: mostlyHalfPrecision(loaded.model),
      ...(opts.onLog ? { onLog: opts.onLog } : {}),
    });
    try {
      const total = sets.reduce((n, s) => n + s.length, 0);
      let done = 0;
      for (const [i, rows] of sets.entries()) {
        const seqLen = rows[0]!.length;
        for (const batchRows of chunk(rows, batchSizeFor(session, spec, rows.length, seqLen, batchSize))) {
          const result = await session.run(probeFeeds(session, spec, makeTokenBatch(batchRows)), names);
          const outputs: Record<string, Float32Array> = {};
          for (const n of names) outputs[n] = toFloat32(result[n]!);
          onBatch(i, batchRows, outputs);
          done += batchRows.length;
          opts.onProgress?.(done, total);
        }
      }
      return session.ep;
    } finally {
      await session.release();
    }
  } finally {
    await file.cleanup();
  }
}

/** The model's declared inputs in the shape a session reports them (for batchSizeFor before any session exists). */
function graphInputs(loaded: LoadedModel): Pick<Session, 'inputMetadata'> {
  return {
    inputMetadata: (loaded.model.graph?.input ?? []).map((v) => ({
      name: v.name ?? '',
      isTensor: true,
      type: 'int64',
      // a decoded dim holds dimValue as an own field only when set (protobufjs puts the default 0 on the prototype)
      shape: (v.type?.tensorType?.shape?.dim ?? []).map((d) => (d.dimParam ? d.dimParam : Object.hasOwn(d, 'dimValue') && d.dimValue != null ? toNumber(d.dimValue) : '')),
    })) as Session['inputMetadata'],
  };
}

/** The batch size to use: the requested one, unless the model fixes its batch (or sequence) dimension (model's fixed-dims decision). */
export function batchSizeFor(session: Pick<Session, 'inputMetadata'> & { modelPath?: string }, spec: ModelSpec, rows: number, seqLen: number, requested: number): number {
  const dims = fixedDimsOf(session.inputMetadata.map((m) => ({ name: m.name, shape: m.isTensor ? m.shape : [] })), spec.inputs.inputIds);
  return batchForFixedDims(dims, [{ what: 'calibration rows', option: '--seq-len', seqLen, rows }], requested, session.modelPath) ?? requested;
}
