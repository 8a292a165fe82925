/**
 * How many decoder blocks one ORT session runs, from a device-memory budget. A session's estimate is
 * everything the device holds while it runs: its initializers (weights, the probe's Gram matrices,
 * constants), the live tensors of one batch (one block's activations, the hidden state in and out, the
 * graph outputs its blocks return, the LM head's logits in the last segment of an evaluation), the
 * reserve the EP's allocator keeps over those live tensors, and what the EP holds whatever the model
 * (the CUDA context). Blocks are packed greedily in order, as many per segment as fit; when one block
 * (or the embedding, or the last block with the head) does not fit at the asked batch, the batch is
 * lowered until it does, and a budget that does not fit even one row is refused before anything runs.
 */
import type { ModelSpec } from '@llm-bip/model';
import { deviceMemory, resolveEp, type EpChoice, type ExecutionProvider } from '@llm-bip/runtime';
import { ScoringError } from '../errors.js';
import type { Tap } from '../types.js';
import type { BlockRange } from './partition.js';

/** Bytes: a number, or `auto` (the device's free memory when scoring starts). */
export type MemoryBudget = number | 'auto';

/**
 * CUDA EP, held whatever the model: the CUDA context with the kernel images it loads (lazily, CUDA >=
 * 12.2's default; about 300 MB at start per PyTorch's maintainers, pytorch/pytorch#107667, 345 MB for an
 * ORT CUDA session of resnet18, microsoft/onnxruntime#9138, over 1 GB when every kernel is loaded at
 * once), and the cuBLAS / cuBLASLt handles of the EP's compute stream with their workspaces (32 MiB each,
 * cuBLAS's recommended size on Hopper, `cublasSetWorkspace`). cuDNN is not loaded for the ops of a decoder
 * LLM (no Conv; ORT 1.29 loads it lazily), so its conv workspace (`cudnn_conv_use_max_workspace`) is not
 * counted. 1 GiB: on the safe side of the measured figures; BENCHMARKS.md has the H200 measurements.
 */
export const CUDA_FIXED_BYTES = 2 ** 30;
/**
 * CUDA EP: device bytes the BFC arena holds per byte of live tensors. onnxruntime-node 1.29 passes only
 * deviceId to the CUDA EP, so the arena keeps ORT's defaults: no gpu_mem_limit and arena_extend_strategy
 * kNextPowerOfTwo, where each extension is at least twice the previous one, and regions are never
 * returned while the session lives. The first run allocates tensor by tensor (regions summing to up to
 * twice the live set); later runs allocate the memory pattern's one block of about the live set, which
 * needs a region of its own (up to twice its size again) unless an earlier region holds it: up to 4x.
 * Initializers are not in this reserve: runtime's CUDA sessions allocate them exactly, outside the arena
 * (SessionOptions.initializerAllocator 'device'). In the arena, ORT's default, they cost up to twice
 * their bytes: a 1 GB fp16 table held 2.1 GB after one run, and the embedding segment measured over its
 * estimate (BENCHMARKS.md "Issue 13 follow-up on the H200").
 */
export const CUDA_ARENA_FACTOR = 4;
/** WebGPU EP (not measured): the Dawn device and its Vulkan state. */
export const WEBGPU_FIXED_BYTES = 512 * 2 ** 20;
/** WebGPU EP (not measured): its buffer cache rounds sizes up to buckets and keeps released buffers. */
export const WEBGPU_BUFFER_FACTOR = 2;

/** What an execution provider holds besides the tensors a plan counts. */
export interface EpMemoryProfile {
  ep: ExecutionProvider;
  /** bytes held whatever the model (CUDA context, library kernels, BLAS workspaces) */
  fixedBytes: number;
  /** device bytes the allocator holds per byte of live tensors (>= 1) */
  activationFactor: number;
}

/**
 * The memory profile of an EP. The CPU EP's is plain (no fixed part, no reserve): there the budget is the
 * host's memory, which the whole process shares (Node, ORT's own arena, pre-packed weights, the carried
 * hidden states), so it stays a guide rather than a bound (BENCHMARKS.md "Block-by-block scoring").
 */
export function epMemoryProfile(ep: ExecutionProvider): EpMemoryProfile {
  if (ep === 'cuda') return { ep, fixedBytes: CUDA_FIXED_BYTES, activationFactor: CUDA_ARENA_FACTOR };
  if (ep === 'webgpu') return { ep, fixedBytes: WEBGPU_FIXED_BYTES, activationFactor: WEBGPU_BUFFER_FACTOR };
  return { ep, fixedBytes: 0, activationFactor: 1 };
}

/** One session's device memory, by part. */
export interface SessionMemory {
  /** initializers: read once, allocated exactly */
  weightBytes: number;
  /** the live tensors of one run at its peak */
  activationBytes: number;
  /** what the allocator holds beyond the live tensors ((factor - 1) x activations) */
  reserveBytes: number;
  /** the EP's fixed part */
  overheadBytes: number;
  /** the sum: what the device holds while the session runs */
  totalBytes: number;
}

/** A session's memory from its weights and live tensors on an EP: the one formula every estimate here uses. */
export function sessionMemory(profile: EpMemoryProfile, weightBytes: number, activationBytes: number): SessionMemory {
  const reserveBytes = Math.ceil((profile.activationFactor - 1) * activationBytes);
  return { weightBytes, activationBytes, reserveBytes, overheadBytes: profile.fixedBytes, totalBytes: weightBytes + activationBytes + reserveBytes + profile.fixedBytes };
}

/** What a schedule holds for one segment. */
export interface SegmentEstimate extends SessionMemory {
  /** null: the embedding segment */
  blocks: BlockRange | null;
}

export interface BlockSchedule {
  ranges: BlockRange[];
  /** the embedding segment, then one per range */
  segments: SegmentEstimate[];
  /** the largest segment's estimate: the device memory the run should peak near */
  peakBytes: number;
  /** the budget the ranges were chosen for; undefined when the blocks per session were given */
  budgetBytes?: number;
  /** rows per run the estimates are for (below the asked batch when the budget lowered it) */
  batch: number;
  /** the batch asked for */
  requestedBatch: number;
  ep: ExecutionProvider;
}

/** Graph outputs one block's run returns besides the hidden state, in float32 values. */
export interface BlockOutputs {
  /** per batch row (tap reductions: [batch, channels]) */
  perRow: number;
  /** per run, whatever the batch (input moments: [width, width] and [width]) */
  perRun: number;
}

export interface ScheduleInput {
  spec: ModelSpec;
  /** the embedding segment's and every block's initializer bytes (ProbeBlocks.weightBytes) */
  weights: { embedding: number; blocks: number[] };
  batch: number;
  seqLen: number;
  /** the EP the sessions run on (resolveEp): its fixed part and allocator reserve */
  ep: ExecutionProvider;
  /** each block's graph outputs (probeOutputs); none when absent */
  blockOutputs?: BlockOutputs[];
  /** bytes per batch row of the head the last segment runs after the last block (evaluation's logits and scoring head) */
  headBytesPerRow?: number;
  /** the model fixes its batch: a budget cannot lower it */
  batchFixed?: boolean;
}

/**
 * Live activation bytes of one block for a batch, in float32 (the probe computes its taps in float32;
 * an fp16 model's own activations are smaller, so this errs high), per token: the residual stream in,
 * after attention and out, and the norm output (4 x hidden); q, its rotated copy, k and v repeated to
 * every query head, and the context (5 x q width); k, v and rotated k (3 x kv width); o_proj's output
 * (hidden); the attention scores, their masked sum and softmax, [heads, seq] each (3 x heads x seq);
 * and the FFN width ten times: gate, up and their product, their float32 casts for the probe, and the
 * probe's sigmoid, SiLU, u - s, slope and absolute values (live together at the block's peak).
 */
export function blockActivationBytes(spec: ModelSpec, batch: number, seqLen: number): number {
  const l = spec.layers[0]!;
  const qWidth = l.numHeads * l.headDim;
  const kvWidth = l.numKvHeads * l.headDim;
  const perToken = 4 * spec.hiddenSize + 5 * qWidth + 3 * kvWidth + spec.hiddenSize + 3 * l.numHeads * seqLen + 10 * l.intermediateSize;
  return batch * seqLen * perToken * 4;
}

/** Bytes of one batch's hidden state (float32 or the model's type; float32 counted: the larger). */
export function hiddenStateBytes(spec: ModelSpec, batch: number, seqLen: number): number {
  return batch * seqLen * spec.hiddenSize * 4;
}

/**
 * Each block's probe outputs: a tap's [batch, width] reduction (channels of its tensor, heads, or 1) per
 * row, and the input moments' [width, width] and [width] sums per run.
 */
export function probeOutputs(spec: ModelSpec, taps: readonly Tap[], moments: ReadonlyArray<{ layer: number; width: number }> = []): BlockOutputs[] {
  const out = spec.layers.map(() => ({ perRow: 0, perRun: 0 }));
  for (const t of taps) {
    const l = spec.layers[t.layer];
    if (!l) continue;
    const widths = { attnContext: l.numHeads * l.headDim, ffnAct: l.intermediateSize, gateOut: l.intermediateSize, upOut: l.intermediateSize, residualMid: spec.hiddenSize, output: spec.hiddenSize };
    const width = t.reduction === 'tokenNorm' || t.reduction === 'lipschitzSlope' || t.reduction === 'lipschitzValue' ? 1 : t.reduction.startsWith('headNorm') ? l.numHeads : widths[t.tensor];
    out[t.layer]!.perRow += width;
  }
  for (const m of moments) if (out[m.layer]) out[m.layer]!.perRun += m.width * m.width + m.width;
  return out;
}

/** Bytes of block `l`'s graph outputs for a batch (float32). */
function outputBytes(input: ScheduleInput, l: number, batch: number): number {
  const o = input.blockOutputs?.[l];
  return o ? (o.perRow * batch + o.perRun) * 4 : 0;
}

/** Live bytes of a segment's run at `batch` (null: the embedding). */
function segmentActivations(input: ScheduleInput, r: BlockRange | null, batch: number): number {
  const hidden = hiddenStateBytes(input.spec, batch, input.seqLen);
  // the embedding: the gathered rows, handed on as x_0
  if (!r) return hidden;
  let bytes = blockActivationBytes(input.spec, batch, input.seqLen) + 2 * hidden;
  // outputs stay allocated until the run returns: every block's of the segment
  for (let l = r.first; l <= r.last; l++) bytes += outputBytes(input, l, batch);
  if (r.last === input.spec.numLayers - 1) bytes += (input.headBytesPerRow ?? 0) * batch;
  return bytes;
}

function segmentEstimate(input: ScheduleInput, r: BlockRange | null, batch: number): SegmentEstimate {
  const weightBytes = r ? sum(input.weights.blocks.slice(r.first, r.last + 1)) : input.weights.embedding;
  return { blocks: r, ...sessionMemory(epMemoryProfile(input.ep), weightBytes, segmentActivations(input, r, batch)) };
}

/** Estimates for given ranges, at the input's batch. */
export function estimateSegments(input: ScheduleInput, ranges: BlockRange[], batch = input.batch): BlockSchedule {
  const segments = [segmentEstimate(input, null, batch), ...ranges.map((r) => segmentEstimate(input, r, batch))];
  return { ranges, segments, peakBytes: Math.max(...segments.map((s) => s.totalBytes)), batch, requestedBatch: input.batch, ep: input.ep };
}

/** The whole probe (or model) in one session: every weight, one block's activations, every output, the head. */
export function wholeModelBytes(input: ScheduleInput): number {
  return wholeModel(input).totalBytes;
}

export function wholeModel(input: ScheduleInput): SessionMemory {
  const n = input.spec.numLayers;
  const live = segmentActivations(input, { first: 0, last: n - 1 }, input.batch);
  return sessionMemory(epMemoryProfile(input.ep), input.weights.embedding + sum(input.weights.blocks), live);
}

/** Fixed blocks per session (the last segment takes the rest). */
export function scheduleByCount(input: ScheduleInput, blocksPerSession: number): BlockSchedule {
  const n = input.spec.numLayers;
  if (!Number.isInteger(blocksPerSession) || blocksPerSession < 1) throw new ScoringError(`blocks per session must be a whole number >= 1, got ${blocksPerSession}`);
  const ranges: BlockRange[] = [];
  for (let first = 0; first < n; first += blocksPerSession) ranges.push({ first, last: Math.min(n, first + blocksPerSession) - 1 });
  return estimateSegments(input, ranges);
}

/** The single-unit segments at `batch` (the embedding, each block alone): the smallest plan there is. */
function singles(input: ScheduleInput, batch: number): SegmentEstimate[] {
  return [segmentEstimate(input, null, batch), ...input.weights.blocks.map((_, l) => segmentEstimate(input, { first: l, last: l }, batch))];
}

/** The smallest budget that runs at `batch`: the largest single-unit segment (embedding, or one block alone). */
export function minimumBudget(input: ScheduleInput, batch = input.batch): number {
  return Math.max(...singles(input, batch).map((s) => s.totalBytes));
}

/**
 * As many consecutive blocks per segment as fit the budget. When a single block, the embedding or the
 * last block with the head does not fit at the asked batch, the batch is lowered to the largest that
 * fits (not below 1, never when the model fixes it); when none does, refused before anything runs,
 * naming the segment that sets the smallest budget, its parts, and that budget. A lowered batch can move
 * statistics in the last float32 digits (ORT's kernels may sum a matrix product in another order for
 * another row count): about 1e-5 relative measured on a tiny model.
 */
export function scheduleByBudget(input: ScheduleInput, budgetBytes: number): BlockSchedule {
  let batch = input.batch;
  if (minimumBudget(input, batch) > budgetBytes) {
    let b = input.batchFixed ? 0 : batch - 1;
    while (b >= 1 && minimumBudget(input, b) > budgetBytes) b--;
    if (b < 1) throw budgetRefusal(input, budgetBytes);
    batch = b;
  }
  const ranges: BlockRange[] = [];
  let current: BlockRange | undefined;
  input.weights.blocks.forEach((_, l) => {
    if (current && segmentEstimate(input, { first: current.first, last: l }, batch).totalBytes <= budgetBytes) current.last = l;
    else ranges.push((current = { first: l, last: l }));
  });
  return { ...estimateSegments(input, ranges, batch), budgetBytes };
}

/** A segment's progress line: what it runs and its estimate by part. */
export function describeSegment(est: SegmentEstimate): string {
  const what = est.blocks ? `blocks ${est.blocks.first}-${est.blocks.last}` : 'embedding';
  const extra = [...(est.reserveBytes > 0 ? [`reserve ${formatBytes(est.reserveBytes)}`] : []), ...(est.overheadBytes > 0 ? [`EP ${formatBytes(est.overheadBytes)}`] : [])];
  return `${what}, weights ${formatBytes(est.weightBytes)}, activations ${formatBytes(est.activationBytes)}${extra.length ? `, ${extra.join(', ')}` : ''}, estimate ${formatBytes(est.totalBytes)}`;
}

/** A segment's estimate as reported (score and eval --json), with the device memory measured at its end where there is one. */
export interface SegmentReport {
  /** 'embedding' or 'blocks a-b' */
  segment: string;
  weightBytes: number;
  activationBytes: number;
  reserveBytes: number;
  overheadBytes: number;
  estimatedBytes: number;
  /** CUDA: device memory the process held after the segment's last batch (SegmentHooks.onSegmentDone) */
  measuredBytes?: number;
}

export function segmentReports(schedule: BlockSchedule, measured: ReadonlyArray<number | undefined> = []): SegmentReport[] {
  return schedule.segments.map((s, i) => ({
    segment: s.blocks ? `blocks ${s.blocks.first}-${s.blocks.last}` : 'embedding',
    weightBytes: s.weightBytes,
    activationBytes: s.activationBytes,
    reserveBytes: s.reserveBytes,
    overheadBytes: s.overheadBytes,
    estimatedBytes: s.totalBytes,
    ...(measured[i] !== undefined ? { measuredBytes: measured[i] } : {}),
  }));
}

const EP_LABEL: Record<ExecutionProvider, string> = { cuda: 'CUDA', webgpu: 'WebGPU', cpu: 'CPU' };

/** The refusal of a budget that not even one row fits: what does not fit, its parts, the smallest budget and the fix. */
function budgetRefusal(input: ScheduleInput, budgetBytes: number): ScoringError {
  const batch = input.batchFixed ? input.batch : 1;
  const all = singles(input, batch);
  // the segment that sets the smallest budget (the first of equals)
  const worst = all.reduce((a, s) => (s.totalBytes > a.totalBytes ? s : a));
  const last = input.spec.numLayers - 1;
  const what = !worst.blocks ? 'the embedding' : `block ${worst.blocks.first}${worst.blocks.first === last && input.headBytesPerRow ? ' with the LM head' : ''}`;
  const parts = [
    `weights ${formatBytes(worst.weightBytes)}`,
    `activations ${formatBytes(worst.activationBytes)} for a batch of ${batch} x ${input.seqLen} tokens`,
    ...(worst.reserveBytes > 0 ? [`the allocator's reserve ${formatBytes(worst.reserveBytes)}`] : []),
    ...(worst.overheadBytes > 0 ? [`the ${EP_LABEL[input.ep]} EP's own ${formatBytes(worst.overheadBytes)}`] : []),
  ];
  const minimum = worst.totalBytes;
  const keep = input.batchFixed || input.batch === 1 ? '' : `; ${formatBytes(minimumBudget(input))} keeps the batch of ${input.batch}`;
  const fix = input.batchFixed ? ` (the model fixes its batch at ${input.batch}: re-export it with a dynamic batch axis to run smaller batches)` : ` (the batch is lowered to fit, down to 1 row${keep})`;
  return new ScoringError(
    `--max-device-memory ${formatBytes(budgetBytes)} is below what ${what} alone needs: about ${formatBytes(worst.totalBytes)} on the ${EP_LABEL[input.ep]} EP (${parts.join(', ')}). Give at least ${formatBytes(minimum)}${fix}.`,
  );
}

/** A budget in bytes, or 'auto' measured on the device the EP choice resolves to (undefined: not measurable). */
export function resolveBudget(budget: MemoryBudget, ep: EpChoice): { bytes?: number; source: string; ep: ExecutionProvider } {
  if (budget !== 'auto') return { bytes: budget, source: '--max-device-memory', ep: resolveEp(ep) };
  const m = deviceMemory(ep);
  return m.freeBytes === undefined ? { source: `free memory of the ${m.ep} device unknown (${m.source})`, ep: m.ep } : { bytes: m.freeBytes, source: `auto: ${m.source}`, ep: m.ep };
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
