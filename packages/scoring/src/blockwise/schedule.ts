/**
 * How many decoder blocks one ORT session runs, from a device-memory budget: each segment's weights
 * (the initializers it reads) plus an estimate of the activations of one block for one batch, plus the
 * hidden states it takes and returns. Blocks are packed greedily in order, as many per segment as fit.
 */
import type { ModelSpec } from '@llm-bip/model';
import { deviceMemory, type EpChoice } from '@llm-bip/runtime';
import { ScoringError } from '../errors.js';
import type { BlockRange } from './partition.js';

/** Bytes: a number, or `auto` (the device's free memory when scoring starts). */
export type MemoryBudget = number | 'auto';

/** What a schedule holds for one segment. */
export interface SegmentEstimate {
  /** null: the embedding segment */
  blocks: BlockRange | null;
  weightBytes: number;
  activationBytes: number;
  /** weights + activations */
  totalBytes: number;
}

export interface BlockSchedule {
  ranges: BlockRange[];
  /** the embedding segment, then one per range */
  segments: SegmentEstimate[];
  /** the largest segment's estimate: the device memory the run should peak near */
  peakBytes: number;
  /** the budget the ranges were chosen for; undefined when the blocks per session were given */
  budgetBytes?: number;
}

/**
 * Live activation bytes of one block for a batch, in float32 (the probe computes its taps in float32;
 * an fp16 model's own activations are smaller, so this errs high): the residual stream in and out and
 * the norm outputs (4 x hidden), q, k, v, context and o_proj output, the attention scores and their
 * softmax (2 x heads x seq per token), and the FFN width six times over (gate, up, product, and the
 * probe's sigmoid / SiLU / slope terms).
 */
export function blockActivationBytes(spec: ModelSpec, batch: number, seqLen: number): number {
  const l = spec.layers[0]!;
  const qWidth = l.numHeads * l.headDim;
  const kvWidth = l.numKvHeads * l.headDim;
  const perToken = 4 * spec.hiddenSize + 2 * qWidth + 2 * kvWidth + spec.hiddenSize + 2 * l.numHeads * seqLen + 6 * l.intermediateSize;
  return batch * seqLen * perToken * 4;
}

/** Bytes of one batch's hidden state (float32 or the model's type; float32 counted: the larger). */
export function hiddenStateBytes(spec: ModelSpec, batch: number, seqLen: number): number {
  return batch * seqLen * spec.hiddenSize * 4;
}

export interface ScheduleInput {
  spec: ModelSpec;
  /** the embedding segment's and every block's initializer bytes (ProbeBlocks.weightBytes) */
  weights: { embedding: number; blocks: number[] };
  batch: number;
  seqLen: number;
}

/** Estimates for given ranges. */
export function estimateSegments(input: ScheduleInput, ranges: BlockRange[]): BlockSchedule {
  const act = blockActivationBytes(input.spec, input.batch, input.seqLen);
  const hidden = hiddenStateBytes(input.spec, input.batch, input.seqLen);
  const segments: SegmentEstimate[] = [
    { blocks: null, weightBytes: input.weights.embedding, activationBytes: hidden, totalBytes: input.weights.embedding + hidden },
    ...ranges.map((r) => {
      const weightBytes = sum(input.weights.blocks.slice(r.first, r.last + 1));
      // one block's activations at a time (ORT reuses buffers block to block) + the state in and out
      const activationBytes = act + 2 * hidden;
      return { blocks: r, weightBytes, activationBytes, totalBytes: weightBytes + activationBytes };
    }),
  ];
  return { ranges, segments, peakBytes: Math.max(...segments.map((s) => s.totalBytes)) };
}

/** The whole probe in one session: every weight + one block's activations. */
export function wholeModelBytes(input: ScheduleInput): number {
  return input.weights.embedding + sum(input.weights.blocks) + blockActivationBytes(input.spec, input.batch, input.seqLen) + 2 * hiddenStateBytes(input.spec, input.batch, input.seqLen);
}

/** Fixed blocks per session (the last segment takes the rest). */
export function scheduleByCount(input: ScheduleInput, blocksPerSession: number): BlockSchedule {
  const n = input.spec.numLayers;
  if (!Number.isInteger(blocksPerSession) || blocksPerSession < 1) throw new ScoringError(`blocks per session must be a whole number >= 1, got ${blocksPerSession}`);
  const ranges: BlockRange[] = [];
  for (let first = 0; first < n; first += blocksPerSession) ranges.push({ first, last: Math.min(n, first + blocksPerSession) - 1 });
  return estimateSegments(input, ranges);
}

/**
 * As many consecutive blocks per segment as fit the budget. Refused, before anything runs, when the
 * embedding or a single block does not fit: the message says how much it needs.
 */
export function scheduleByBudget(input: ScheduleInput, budgetBytes: number, lowerBatch = 'a library caller can lower batchSize'): BlockSchedule {
  const act = blockActivationBytes(input.spec, input.batch, input.seqLen) + 2 * hiddenStateBytes(input.spec, input.batch, input.seqLen);
  const ranges: BlockRange[] = [];
  let current: BlockRange | undefined;
  let weights = 0;
  input.weights.blocks.forEach((w, l) => {
    if (w + act > budgetBytes) {
      throw new ScoringError(
        `--max-device-memory ${formatBytes(budgetBytes)} is below what block ${l} alone needs: about ${formatBytes(w + act)} (weights ${formatBytes(w)}, activations ${formatBytes(act)} for a batch of ${input.batch} x ${input.seqLen} tokens). Give at least ${formatBytes(w + act)} (the activations grow with the batch: ${lowerBatch}).`,
      );
    }
    if (current && weights + w + act <= budgetBytes) {
      current.last = l;
      weights += w;
    } else {
      current = { first: l, last: l };
      ranges.push(current);
      weights = w;
    }
  });
  const schedule = estimateSegments(input, ranges);
  const embedding = schedule.segments[0]!;
  if (embedding.totalBytes > budgetBytes) {
    throw new ScoringError(`--max-device-memory ${formatBytes(budgetBytes)} is below what the embedding alone needs: about ${formatBytes(embedding.totalBytes)}. Give at least that.`);
  }
  return { ...schedule, budgetBytes };
}

/** A budget in bytes, or 'auto' measured on the device the EP choice resolves to (undefined: not measurable). */
export function resolveBudget(budget: MemoryBudget, ep: EpChoice): { bytes?: number; source: string } {
  if (budget !== 'auto') return { bytes: budget, source: '--max-device-memory' };
  const m = deviceMemory(ep);
  return m.freeBytes === undefined ? { source: `free memory of the ${m.ep} device unknown (${m.source})` } : { bytes: m.freeBytes, source: `auto: ${m.source}` };
}

const UNITS: Record<string, number> = { '': 1, B: 1, KB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12, KIB: 2 ** 10, MIB: 2 ** 20, GIB: 2 ** 30, TIB: 2 ** 40 };

/** `8GB`, `500MB`, `1.5GiB`, `123456` (bytes) or `auto`; anything else is a clear error. */
export function parseMemoryBudget(raw: string, option = '--max-device-memory'): MemoryBudget {
  const s = raw.trim();
  if (s.toLowerCase() === 'auto') return 'auto';
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(s);
  const unit = m ? UNITS[m[2]!.toUpperCase()] : undefined;
  const bytes = m && unit !== undefined ? Math.floor(Number(m[1]) * unit) : NaN;
  if (!Number.isFinite(bytes) || bytes <= 0) {
    throw new ScoringError(`${option} must be a size such as 8GB, 500MB, 1.5GiB or a number of bytes, or auto; got "${raw}"`);
  }
  return bytes;
}

/** 1.23 GB / 456.7 MB / 12.3 kB / 42 B: decimal units, as the budget is usually written. */
export function formatBytes(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} kB`;
  return `${n} B`;
}

function sum(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}
