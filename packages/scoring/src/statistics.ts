/**
 * Statistics: float64 accumulation of the probe's per-row tap outputs, reading them back for
 * criteria, and the JSON file (so plans at other ratios need no recalibration).
 */
import { readFile } from 'node:fs/promises';
import { writeJsonAtomic } from '@llm-bip/onnx-io';
import type { CompensationStats, ModelSpec } from '@llm-bip/model';
import { StatisticsMismatchError } from './errors.js';
import { combinesByMax, STATISTICS_FORMAT, tapKey, type Statistics, type Tap } from './types.js';

/** Taps every collection includes: projection-input sums (bias compensation) and block output norms. */
export function baseTaps(spec: ModelSpec): Tap[] {
  return spec.layers.flatMap((l) => [
    { layer: l.index, tensor: 'attnContext', reduction: 'sum' },
    { layer: l.index, tensor: 'ffnAct', reduction: 'sum' },
    { layer: l.index, tensor: 'output', reduction: 'tokenNorm' },
  ] satisfies Tap[]);
}

/** Distinct taps, in first-seen order. */
export function uniqueTaps(taps: Tap[]): Tap[] {
  const seen = new Map<string, Tap>();
  for (const t of taps) if (!seen.has(tapKey(t))) seen.set(tapKey(t), t);
  return [...seen.values()];
}

/**
 * Sums (or maxima) over batch rows in float64. Rows are added one at a time in the order they come,
 * so the same rows give the same float64 result whatever the batch split.
 */
export class StatisticsAccumulator {
  private readonly acc = new Map<string, Float64Array>();
  private rows = 0;
  private seqLen = 0;

  constructor(private readonly taps: Tap[]) {}

  /** `outputs[key]` holds one batch's result for that tap: [batch, ...tap shape] flattened. */
  addBatch(batchRows: number, seqLen: number, outputs: Record<string, ArrayLike<number>>): void {
    if (this.rows > 0 && seqLen !== this.seqLen) {
      throw new StatisticsMismatchError(`batch has sequence length ${seqLen}, earlier batches ${this.seqLen}: use one length per calibration set`);
    }
    this.seqLen = seqLen;
    for (const t of this.taps) {
      const key = tapKey(t);
      const out = outputs[key];
      if (!out) throw new StatisticsMismatchError(`probe returned no output for tap ${key}`);
      if (out.length % batchRows !== 0) throw new StatisticsMismatchError(`tap ${key}: ${out.length} values do not split into ${batchRows} rows`);
      const width = out.length / batchRows;
      let a = this.acc.get(key);
      if (!a) {
        a = new Float64Array(width).fill(combinesByMax(t.reduction) ? -Infinity : 0);
        this.acc.set(key, a);
      }
      if (a.length !== width) throw new StatisticsMismatchError(`tap ${key}: width ${width}, earlier batches ${a.length}`);
      const max = combinesByMax(t.reduction);
      for (let r = 0; r < batchRows; r++) {
        for (let j = 0; j < width; j++) {
          const v = out[r * width + j]!;
          a[j] = max ? Math.max(a[j]!, v) : a[j]! + v;
        }
      }
    }
    this.rows += batchRows;
  }

  result(executionProvider?: string): Statistics {
    const taps: Record<string, number[]> = {};
    for (const [k, v] of this.acc) taps[k] = Array.from(v);
    return {
      format: STATISTICS_FORMAT,
      tokens: this.rows * this.seqLen,
      rows: this.rows,
      seqLen: this.seqLen,
      taps,
      ...(executionProvider ? { executionProvider } : {}),
    };
  }
}

/**
 * Statistics of disjoint calibration shards (several GPUs, data-parallel) combined: sums add, maxima
 * take the maximum. The shards must hold the same taps and sequence length.
 */
export function mergeStatistics(shards: Statistics[]): Statistics {
  const first = shards[0];
  if (!first) throw new StatisticsMismatchError('no statistics to merge');
  const keys = Object.keys(first.taps).sort();
  const taps: Record<string, number[]> = {};
  for (const k of keys) taps[k] = first.taps[k]!.slice();
  for (const s of shards.slice(1)) {
    if (s.seqLen !== first.seqLen) throw new StatisticsMismatchError(`cannot merge statistics of sequence lengths ${first.seqLen} and ${s.seqLen}`);
    const other = Object.keys(s.taps).sort();
    if (other.join('\n') !== keys.join('\n')) throw new StatisticsMismatchError('cannot merge statistics collected with different taps: collect every shard with the same criterion');
    for (const k of keys) {
      const max = k.endsWith('.max');
      const a = taps[k]!;
      const b = s.taps[k]!;
      if (a.length !== b.length) throw new StatisticsMismatchError(`tap ${k} has ${a.length} values in one shard and ${b.length} in another`);
      for (let i = 0; i < a.length; i++) a[i] = max ? Math.max(a[i]!, b[i]!) : a[i]! + b[i]!;
    }
  }
  return {
    format: STATISTICS_FORMAT,
    tokens: shards.reduce((n, s) => n + s.tokens, 0),
    rows: shards.reduce((n, s) => n + s.rows, 0),
    seqLen: first.seqLen,
    taps,
    ...(first.executionProvider ? { executionProvider: first.executionProvider } : {}),
  };
}

/** A tap's accumulated values; a clear error when the statistics were collected without it. */
export function tapValues(stats: Statistics, tap: Tap, criterion: string): number[] {
  const v = stats.taps[tapKey(tap)];
  if (!v) {
    throw new StatisticsMismatchError(
      `statistics have no tap ${tapKey(tap)}, which criterion "${criterion}" needs: collect statistics with this criterion (llm-bip score --criterion ${criterion})`,
    );
  }
  return v;
}

/** Per-layer means of o_proj and down_proj inputs, for surgery's bias compensation (FLAP). */
export function compensationStats(stats: Statistics, model: ModelSpec | { numLayers: number }): CompensationStats {
  if (stats.tokens === 0) throw new StatisticsMismatchError('the statistics hold no tokens: bias compensation needs calibration statistics');
  const mean = (tap: Tap) => tapValues(stats, tap, 'compensation').map((s) => s / stats.tokens);
  return {
    layers: Array.from({ length: model.numLayers }, (_, layer) => ({
      layer,
      oProjInputMean: mean({ layer, tensor: 'attnContext', reduction: 'sum' }),
      downProjInputMean: mean({ layer, tensor: 'ffnAct', reduction: 'sum' }),
    })),
  };
}

/** mean_t ||y_t|| of a layer, when the statistics hold it. */
export function blockOutputNorm(stats: Statistics, layer: number): number | undefined {
  const v = stats.taps[tapKey({ layer, tensor: 'output', reduction: 'tokenNorm' })];
  return v ? v[0]! / stats.tokens : undefined;
}

export async function saveStatistics(stats: Statistics, path: string): Promise<void> {
  await writeJsonAtomic(path, stats, { mkdir: true });
}

export async function loadStatistics(path: string): Promise<Statistics> {
  const s = JSON.parse(await readFile(path, 'utf8')) as Statistics;
  if (s.format !== STATISTICS_FORMAT) {
    throw new StatisticsMismatchError(`${path} is not a statistics file (format "${String(s.format)}", expected "${STATISTICS_FORMAT}")`);
  }
  return s;
}

/** onnx-io's atomic JSON write, re-exported for scoring's callers. */
export { writeJsonAtomic } from '@llm-bip/onnx-io';
