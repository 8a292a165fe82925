/**
 * Statistics collection: build the probe, run the calibration rows through it in batches on the
 * chosen execution provider, accumulate the per-row tap outputs in float64 on the host. The probe runs
 * whole in one session, or block by block (../blockwise) when a memory budget or a number of blocks
 * per session asks for it and the whole probe does not fit.
 */
import { loadModel, mostlyHalfPrecision, tensorByteLength, toNumber, type LoadedModel } from '@llm-bip/onnx-io';
import { batchForFixedDims, fixedDimsOf, type ModelSpec } from '@llm-bip/model';
import { chunk, createSession, makeTokenBatch, toFloat32, type EpChoice, type Session } from '@llm-bip/runtime';
import { ScoringError } from '../errors.js';
import { baseTaps, StatisticsAccumulator, uniqueTaps } from '../statistics.js';
import type { Statistics, Tap } from '../types.js';
import { modelWeights } from '../weights.js';
import { BlockwiseProbe, runSegments } from '../blockwise/run.js';
import { formatBytes, resolveBudget, scheduleByBudget, scheduleByCount, wholeModelBytes, type BlockSchedule, type MemoryBudget } from '../blockwise/schedule.js';
import { buildProbe, type ProbeModel } from './build-probe.js';
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
  if (rows.length === 0) throw new ScoringError('no calibration rows: sample some with sampleCalibration');
  const seqLen = rows[0]!.length;
  if (rows.some((r) => r.length !== seqLen)) throw new ScoringError('calibration rows differ in length: every row must have seqLen tokens (no padding)');
  const taps = uniqueTaps([...baseTaps(spec), ...opts.taps]);

  if (!opts.model && !opts.modelPath) throw new ScoringError('collectStatistics: give model (a LoadedModel) or modelPath');
  const loaded = opts.model ?? (await loadModel(opts.modelPath!));
  const probe = await buildProbe(loaded.model, spec, taps, modelWeights(loaded.model, loaded.dir));
  const batchSize = batchSizeFor(graphInputs(loaded), spec, rows.length, seqLen, opts.batchSize ?? 8);
  if (opts.maxDeviceMemory === undefined && opts.blocksPerSession === undefined) {
    opts.onSchedule?.({ mode: 'whole', reason: 'no memory budget given', batchSize });
    return collectWhole(loaded, spec, taps, probe, rows, batchSize, opts);
  }
  let schedule: ExecutionSchedule;
  if (opts.blocksPerSession !== undefined) {
    // the block analysis refuses graphs it cannot cut before anything runs
    const bw = BlockwiseProbe.fromProbe(loaded, spec, probe);
    const input = { spec, weights: bw.blocks.weightBytes(), batch: Math.min(batchSize, rows.length), seqLen };
    const blockwise = scheduleByCount(input, opts.blocksPerSession);
    schedule = { mode: 'blockwise', reason: `${opts.blocksPerSession} block(s) per session, as asked`, wholeBytes: wholeModelBytes(input), blockwise, batchSize };
    return runBlockwise(bw, schedule, taps, rows, batchSize, opts);
  }
  const weights = { embedding: 0, blocks: [(probe.model.graph?.initializer ?? []).reduce((a, t) => a + tensorByteLength(t), 0)] };
  const wholeBytes = wholeModelBytes({ spec, weights, batch: Math.min(batchSize, rows.length), seqLen });
  const budget = resolveBudget(opts.maxDeviceMemory!, opts.ep ?? 'auto');
  const whole = (reason: string) => {
    opts.onSchedule?.({ mode: 'whole', reason, wholeBytes, ...(budget.bytes !== undefined ? { budgetBytes: budget.bytes } : {}), batchSize });
    return collectWhole(loaded, spec, taps, probe, rows, batchSize, opts);
  };
  if (budget.bytes === undefined) return whole(`${budget.source}: the whole model in one session`);
  if (wholeBytes <= budget.bytes) return whole(`the whole probe (about ${formatBytes(wholeBytes)}) fits ${formatBytes(budget.bytes)} (${budget.source})`);
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
  const input = { spec, weights: bw.blocks.weightBytes(), batch: Math.min(batchSize, rows.length), seqLen };
  const blockwise = scheduleByBudget(input, budget.bytes);
  schedule = { mode: 'blockwise', reason: `the whole probe (about ${formatBytes(wholeBytes)}) exceeds ${formatBytes(budget.bytes)} (${budget.source})`, wholeBytes, budgetBytes: budget.bytes, blockwise, batchSize };
  return runBlockwise(bw, schedule, taps, rows, batchSize, opts);
}

async function runBlockwise(bw: BlockwiseProbe, schedule: ExecutionSchedule, taps: Tap[], rows: number[][], batchSize: number, opts: CollectOptions): Promise<Statistics> {
  opts.onSchedule?.(schedule);
  const batches = chunk(rows, batchSize).map((r) => makeTokenBatch(r));
  const segments = schedule.blockwise!.ranges.length + 1;
  let current = 0;
  const { statistics } = await runSegments(bw, schedule.blockwise!.ranges, taps, batches, {
    ...(opts.ep ? { ep: opts.ep } : {}),
    ...(opts.threads ? { threads: opts.threads } : {}),
    keepFp16Weights: mostlyHalfPrecision(bw.loaded.model),
    ...(opts.onLog ? { onLog: opts.onLog } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
    onSegment: (seg, of) => {
      current = seg.index;
      const est = schedule.blockwise!.segments[seg.index]!;
      const what = seg.blocks ? `blocks ${seg.blocks.first}-${seg.blocks.last}` : 'embedding';
      opts.onLog?.(`segment ${seg.index + 1}/${of}: ${what}, weights ${formatBytes(est.weightBytes)}, estimate ${formatBytes(est.totalBytes)}`);
    },
    onBatch: (done) => opts.onProgress?.(current * rows.length + Math.min(rows.length, done * batchSize), rows.length * segments),
  });
  return statistics;
}

async function collectWhole(loaded: LoadedModel, spec: ModelSpec, taps: Tap[], probe: ProbeModel, rows: number[][], batchSize: number, opts: CollectOptions): Promise<Statistics> {
  const seqLen = rows[0]!.length;
  const file = await writeProbeFile(probe.model, loaded.dir);
  try {
    const session = await createSession(file, {
      ...(opts.ep ? { ep: opts.ep } : {}),
      ...(opts.threads ? { threads: opts.threads } : {}),
      // fp16/bf16 models on the CPU EP: no float32 copies of the weights (runtime's keepFp16Weights)
      keepFp16Weights: mostlyHalfPrecision(loaded.model),
      ...(opts.onLog ? { onLog: opts.onLog } : {}),
    });
    try {
      const acc = new StatisticsAccumulator(taps);
      const names = probe.outputs.map((o) => o.output);
      let done = 0;
      for (const batchRows of chunk(rows, batchSizeFor(session, spec, rows.length, seqLen, batchSize))) {
        const batch = makeTokenBatch(batchRows);
        const result = await session.run(probeFeeds(session, spec, batch), names);
        const outputs: Record<string, Float32Array> = {};
        for (const o of probe.outputs) outputs[o.key] = toFloat32(result[o.output]!);
        acc.addBatch(batchRows.length, seqLen, outputs);
        done += batchRows.length;
        opts.onProgress?.(done, rows.length);
      }
      return acc.result(session.ep);
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
