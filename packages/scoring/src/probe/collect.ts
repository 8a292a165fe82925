/**
 * Statistics collection: build the probe, run the calibration rows through it in batches on the
 * chosen execution provider, accumulate the per-row tap outputs in float64 on the host.
 */
import { loadModel, type LoadedModel } from '@llm-bip/onnx-io';
import { batchForFixedDims, fixedDimsOf, type ModelSpec } from '@llm-bip/model';
import { chunk, createSession, makeTokenBatch, toFloat32, type EpChoice, type Session } from '@llm-bip/runtime';
import { ScoringError } from '../errors.js';
import { baseTaps, StatisticsAccumulator, uniqueTaps } from '../statistics.js';
import type { Statistics, Tap } from '../types.js';
import { modelWeights } from '../weights.js';
import { buildProbe } from './build-probe.js';
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
  if (rows.length === 0) throw new ScoringError('no calibration rows: sample some with sampleCalibration');
  const seqLen = rows[0]!.length;
  if (rows.some((r) => r.length !== seqLen)) throw new ScoringError('calibration rows differ in length: every row must have seqLen tokens (no padding)');
  const taps = uniqueTaps([...baseTaps(spec), ...opts.taps]);

  if (!opts.model && !opts.modelPath) throw new ScoringError('collectStatistics: give model (a LoadedModel) or modelPath');
  const loaded = opts.model ?? (await loadModel(opts.modelPath!));
  const probe = await buildProbe(loaded.model, spec, taps, modelWeights(loaded.model, loaded.dir));
  const file = await writeProbeFile(probe.model, loaded.dir);
  try {
    const session = await createSession(file, {
      ...(opts.ep ? { ep: opts.ep } : {}),
      ...(opts.threads ? { threads: opts.threads } : {}),
      ...(opts.onLog ? { onLog: opts.onLog } : {}),
    });
    try {
      const acc = new StatisticsAccumulator(taps);
      const names = probe.outputs.map((o) => o.output);
      let done = 0;
      for (const batchRows of chunk(rows, batchSizeFor(session, spec, rows.length, seqLen, opts.batchSize ?? 8))) {
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

/** The batch size to use: the requested one, unless the model fixes its batch (or sequence) dimension (model's fixed-dims decision). */
export function batchSizeFor(session: Session, spec: ModelSpec, rows: number, seqLen: number, requested: number): number {
  const dims = fixedDimsOf(session.inputMetadata.map((m) => ({ name: m.name, shape: m.isTensor ? m.shape : [] })), spec.inputs.inputIds);
  return batchForFixedDims(dims, [{ what: 'calibration rows', option: '--seq-len', seqLen, rows }], requested, session.modelPath) ?? requested;
}
