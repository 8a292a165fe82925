/**
 * Statistics collection: build the probe, run the calibration rows through it in batches on the
 * chosen execution provider, accumulate the per-row tap outputs in float64 on the host.
 */
import { loadModel, type LoadedModel, type ModelProto } from '@llm-bip/onnx-io';
import type { InputMoments, ModelSpec } from '@llm-bip/model';
import { chunk, createSession, makeTokenBatch, toFloat32, type EpChoice, type Session } from '@llm-bip/runtime';
import { ScoringError } from '../errors.js';
import { baseTaps, StatisticsAccumulator, uniqueTaps } from '../statistics.js';
import type { Statistics, Tap } from '../types.js';
import { modelWeights } from '../weights.js';
import { buildProbe, type MomentTap } from './build-probe.js';
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
  onProgress?: (rowsDone: number, rowsTotal: number) => void;
  onLog?: (line: string) => void;
}

export async function collectStatistics(opts: CollectOptions): Promise<Statistics> {
  const { rows, spec } = opts;
  checkRows(rows);
  const seqLen = rows[0]!.length;
  const taps = uniqueTaps([...baseTaps(spec), ...opts.taps]);
  const loaded = await loadedOf(opts);
  const probe = await buildProbe(loaded.model, spec, taps, modelWeights(loaded.model, loaded.dir));
  const acc = new StatisticsAccumulator(taps);
  const ep = await runProbe(loaded, spec, probe.model, probe.outputs.map((o) => o.output), [rows], opts, (_set, batchRows, result) => {
    const outputs: Record<string, Float32Array> = {};
    for (const o of probe.outputs) outputs[o.key] = result[o.output]!;
    acc.addBatch(batchRows.length, seqLen, outputs);
  });
  return acc.result(ep);
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
 * plus one batch's float32 outputs; callers with big models ask for a few layers per call.
 */
export async function collectInputMoments(opts: MomentsOptions): Promise<ProjectionMoments[]> {
  const { rows, spec } = opts;
  checkRows(rows);
  const hold = opts.holdoutRows ?? 0;
  if (!Number.isInteger(hold) || hold < 0 || hold >= rows.length) {
    throw new ScoringError(`holdout of ${hold} rows out of ${rows.length}: hold out a whole number of rows, fewer than all (at least one row must remain for the fit)`);
  }
  const wanted = opts.moments ?? spec.layers.flatMap((l) => [{ layer: l.index, tensor: 'attnContext' as const }, { layer: l.index, tensor: 'ffnAct' as const }]);
  const loaded = await loadedOf(opts);
  const probe = await buildProbe(loaded.model, spec, [], modelWeights(loaded.model, loaded.dir), { moments: wanted });
  const sets = hold > 0 ? [rows.slice(0, rows.length - hold), rows.slice(rows.length - hold)] : [rows];
  const acc = probe.moments.map((m) => sets.map(() => ({ tokens: 0, gram: new Float64Array(m.width * m.width), sum: new Float64Array(m.width) })));
  await runProbe(loaded, spec, probe.model, probe.moments.flatMap((m) => [m.gram, m.sum]), sets, opts, (set, batchRows, result) => {
    probe.moments.forEach((m, i) => {
      const a = acc[i]![set]!;
      const gram = result[m.gram]!;
      const sum = result[m.sum]!;
      if (gram.length !== a.gram.length || sum.length !== a.sum.length) {
        throw new ScoringError(`probe output for layers.${m.layer}.${m.tensor} has ${gram.length} gram and ${sum.length} sum values, expected ${a.gram.length} and ${a.sum.length}`);
      }
      for (let j = 0; j < gram.length; j++) a.gram[j]! += gram[j]!;
      for (let j = 0; j < sum.length; j++) a.sum[j]! += sum[j]!;
      a.tokens += batchRows.length * batchRows[0]!.length;
    });
  });
  return probe.moments.map((m, i) => ({ layer: m.layer, tensor: m.tensor, width: m.width, train: acc[i]![0]!, ...(hold > 0 ? { holdout: acc[i]![1]! } : {}) }));
}

function checkRows(rows: number[][]): void {
  if (rows.length === 0) throw new ScoringError('no calibration rows: sample some with sampleCalibration');
  const seqLen = rows[0]!.length;
  if (rows.some((r) => r.length !== seqLen)) throw new ScoringError('calibration rows differ in length: every row must have seqLen tokens (no padding)');
}

async function loadedOf(opts: { model?: LoadedModel; modelPath?: string }): Promise<LoadedModel> {
  if (!opts.model && !opts.modelPath) throw new ScoringError('collecting statistics: give model (a LoadedModel) or modelPath');
  return opts.model ?? (await loadModel(opts.modelPath!));
}

/**
 * Run a probe model over sets of rows (each set batched on its own, so no batch mixes two sets) and
 * hand each batch's outputs, as float32, to `onBatch`. Returns the execution provider that ran it.
 */
async function runProbe(
  loaded: LoadedModel,
  spec: ModelSpec,
  probe: ModelProto,
  names: string[],
  sets: number[][][],
  opts: Pick<CollectOptions, 'batchSize' | 'ep' | 'threads' | 'onProgress' | 'onLog'>,
  onBatch: (set: number, rows: number[][], outputs: Record<string, Float32Array>) => void,
): Promise<string> {
  const file = await writeProbeFile(probe, loaded.dir);
  try {
    const session = await createSession(file, {
      ...(opts.ep ? { ep: opts.ep } : {}),
      ...(opts.threads ? { threads: opts.threads } : {}),
      ...(opts.onLog ? { onLog: opts.onLog } : {}),
    });
    try {
      const total = sets.reduce((n, s) => n + s.length, 0);
      let done = 0;
      for (const [i, rows] of sets.entries()) {
        const seqLen = rows[0]!.length;
        for (const batchRows of chunk(rows, batchSizeFor(session, spec, rows.length, seqLen, opts.batchSize ?? 8))) {
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

/** The batch size to use: the requested one, unless the model fixes its batch (or sequence) dimension. */
export function batchSizeFor(session: Session, spec: ModelSpec, rows: number, seqLen: number, requested: number): number {
  const meta = session.inputMetadata.find((m) => m.name === spec.inputs.inputIds);
  const shape = meta?.isTensor ? meta.shape : [];
  const [b, t] = shape;
  if (typeof t === 'number' && t >= 0 && t !== seqLen) {
    throw new ScoringError(`the model fixes the sequence length to ${t}; calibrate with --seqlen ${t}`);
  }
  if (typeof b === 'number' && b > 0) {
    if (rows % b !== 0) throw new ScoringError(`the model fixes the batch size to ${b}; use a number of calibration samples divisible by ${b}`);
    return b;
  }
  return requested;
}
