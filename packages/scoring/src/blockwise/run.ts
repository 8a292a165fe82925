/**
 * Running a probe segment by segment: one ORT session at a time, created for a segment, run over every
 * calibration batch, released before the next segment's session is made. The tensors a segment hands
 * on (the hidden state, and anything else a later segment reads) wait on the host, one entry per batch.
 *
 * Order: every batch through segment k, then every batch through k+1 (not every segment per batch):
 * each session is created once (creating one loads its weights to the device, seconds for a 7B block
 * range), at the cost of holding the carried tensors of the whole calibration set on the host:
 * samples x seq x hidden x 4 bytes for the hidden state (128 x 128 x 4096 x 4 = 268 MB for a 7B model).
 *
 * `runSegment` is also the per-block API: with one block per segment it runs block l on given inputs
 * and returns its outputs and the statistics of its taps (what sequential pruning will call on inputs
 * from already-pruned blocks).
 */
import { DataType, type LoadedModel, type ModelProto } from '@llm-bip/onnx-io';
import type { ModelSpec } from '@llm-bip/model';
import { createSession, deviceMemoryUsed, resolveEp, toFloat32, type EpChoice, type Feeds, type OrtTensor, type OrtValueMetadata, type Session, type TokenBatch } from '@llm-bip/runtime';
import { ScoringError } from '../errors.js';
import { buildProbe, type ProbeModel } from '../probe/build-probe.js';
import { probeFeeds } from '../probe/feeds.js';
import { writeProbeFile } from '../probe/probe-file.js';
import { StatisticsAccumulator } from '../statistics.js';
import { tapKey, type ScoreCompute, type Statistics, type Tap } from '../types.js';
import { ProbeBlocks, segmentModel, type BlockRange, type CarriedType, type ProbeSegment } from './partition.js';

export interface SegmentRunOptions {
  ep?: EpChoice;
  threads?: number;
  /** runtime's keepFp16Weights for the segment sessions (float16 models on the CPU EP) */
  keepFp16Weights?: boolean;
  onLog?: (line: string) => void;
  /** after each batch: batches of this segment done */
  onBatch?: (done: number, total: number) => void;
  /**
   * Probe outputs beyond the taps (the input moments of reconstruction): those of them the segment
   * computes are fetched and handed, per batch (its index), to `onExtraOutputs`
   */
  extraOutputs?: readonly string[];
  onExtraOutputs?: (batch: number, outputs: Record<string, Float32Array>) => void;
}

/** What a segment's session is asked for one batch: its feeds, and the outputs to fetch besides the carried ones. */
export interface SegmentBatchRun {
  /** the feeds of batch `b` for `session`; `carriedIn` holds the segment's carried inputs for it */
  feeds(session: Session, b: number, carriedIn: Feeds): Feeds;
  /** outputs to fetch besides the carried ones (taps, the scoring head's) */
  fetch: string[];
  /** every batch's fetched outputs, carried ones included, as they come (the caller keeps what it needs) */
  onResult(b: number, result: Record<string, OrtTensor>): void;
  /** after the last batch, with the EP the session ran on */
  done?(ep: string): void;
}

/**
 * Any model cut by ProbeBlocks (a probe, or a model with its evaluation head), run one segment at a
 * time: a session per segment, created, run over every batch, released. The one implementation of
 * segment execution that block-by-block scoring and evaluation share.
 */
export class SegmentRunner {
  /** types of carried tensors, learnt from the sessions that produce them */
  private readonly carriedTypes = new Map<string, CarriedType>();

  constructor(
    readonly model: ModelProto,
    /** the model's folder: external weights are read from it, derived files never go in it */
    readonly dir: string,
    readonly blocks: ProbeBlocks,
  ) {}

  /**
   * Run `seg` over `batches` batches: `carried[b]` must hold its `carriedIn` for batch b (nothing for the
   * embedding segment). Returns, per batch, the tensors it hands on (`carriedOut`). One session,
   * released before this returns.
   */
  async runSegment(seg: ProbeSegment, batches: number, carried: Feeds[], run: SegmentBatchRun, opts: SegmentRunOptions = {}): Promise<{ carried: Feeds[]; ep: string; deviceUsedBytes?: number }> {
    if (carried.length !== batches) throw new ScoringError(`runSegment: ${carried.length} carried entries for ${batches} batches`);
    for (const name of seg.carriedIn) {
      if (!carried.every((c) => c[name])) throw new ScoringError(`segment ${seg.index} reads "${name}", which the carried tensors do not hold: run the segments before it first`);
    }
    const model = segmentModel(this.model, seg, (name) => this.carriedTypes.get(name) ?? typeOfTensor(carried[0]![name]!));
    const file = await writeProbeFile(model, this.dir);
    try {
      const session = await createSession(file, {
        ...(opts.ep ? { ep: opts.ep } : {}),
        ...(opts.threads ? { threads: opts.threads } : {}),
        ...(opts.keepFp16Weights ? { keepFp16Weights: true } : {}),
        ...(opts.onLog ? { onLog: opts.onLog } : {}),
      });
      try {
        for (const m of session.outputMetadata) if (seg.carriedOut.includes(m.name)) this.carriedTypes.set(m.name, typeOfMetadata(m));
        const names = [...seg.carriedOut, ...run.fetch.filter((n) => !seg.carriedOut.includes(n))];
        const out: Feeds[] = [];
        for (let b = 0; b < batches; b++) {
          const inputs: Feeds = {};
          for (const name of seg.carriedIn) inputs[name] = carried[b]![name]!;
          const result = await session.run(run.feeds(session, b, inputs), names);
          run.onResult(b, result);
          const next: Feeds = {};
          for (const name of seg.carriedOut) next[name] = result[name]!;
          out.push(next);
          opts.onBatch?.(b + 1, batches);
        }
        // CUDA: the device's memory in use with the session still held (its arena never shrinks, so this
        // is the session's peak), for comparing with the segment's estimate
        const used = deviceMemoryUsed(session.ep);
        return { carried: out, ep: session.ep, ...(used !== undefined ? { deviceUsedBytes: used } : {}) };
      } finally {
        await session.release();
      }
    } finally {
      await file.cleanup();
    }
  }

  /**
   * Every segment of `ranges` in order over every batch. `runFor(seg)` says what to feed and fetch in
   * each. Between segments the host keeps only what a later segment reads (one generation of hidden
   * states). Returns the largest carried host bytes and the first EP reported.
   */
  async runAll(ranges: BlockRange[], batches: number, runFor: (seg: ProbeSegment) => SegmentBatchRun, opts: SegmentRunOptions & SegmentHooks = {}): Promise<{ carriedHostBytes: number; ep?: string }> {
    const segs = this.blocks.segments(ranges);
    // what the device held before this run's first session (other processes; nothing of ours yet)
    const baseline = opts.onSegmentDone ? deviceMemoryUsed(resolveEp(opts.ep ?? 'auto')) : undefined;
    let carried: Feeds[] = Array.from({ length: batches }, () => ({}));
    let carriedHostBytes = 0;
    let ep: string | undefined;
    for (const [k, seg] of segs.entries()) {
      opts.signal?.throwIfAborted();
      opts.onSegment?.(seg, segs.length);
      // the execution-provider line once, not once per session
      const run = runFor(seg);
      const r = await this.runSegment(seg, batches, carried, run, k === 0 ? opts : { ...opts, onLog: undefined });
      run.done?.(r.ep);
      opts.onSegmentDone?.(seg, r.deviceUsedBytes !== undefined && baseline !== undefined ? r.deviceUsedBytes - baseline : undefined);
      ep ??= r.ep;
      const later = new Set(segs.slice(k + 1).flatMap((s) => s.carriedIn));
      carried = carried.map((c, b) => {
        const keep: Feeds = {};
        for (const [name, t] of [...Object.entries(c), ...Object.entries(r.carried[b]!)]) if (later.has(name)) keep[name] = t;
        return keep;
      });
      carriedHostBytes = Math.max(carriedHostBytes, carried.reduce((a, c) => a + Object.values(c).reduce((x, t) => x + tensorBytes(t), 0), 0));
    }
    return { carriedHostBytes, ...(ep ? { ep } : {}) };
  }
}

/** Hooks of a run over every segment. */
export interface SegmentHooks {
  /** before each segment's session is made */
  onSegment?: (seg: ProbeSegment, of: number) => void;
  /**
   * after each segment's last batch: on CUDA, the device memory the process held then (nvidia-smi's
   * device-wide memory.used minus what it was before the first segment), else undefined
   */
  onSegmentDone?: (seg: ProbeSegment, deviceBytes: number | undefined) => void;
  /** checked between segments */
  signal?: AbortSignal;
}

export interface SegmentResult {
  /** per batch: the tensors the segment hands on (its `carriedOut`), by name */
  carried: Feeds[];
  /** the segment's taps over the batches given */
  statistics: Statistics;
  /** the execution provider the session used */
  ep: string;
}

/** A probe built once for a model, cut into segments on demand. */
export class BlockwiseProbe {
  private readonly runner: SegmentRunner;

  private constructor(
    readonly loaded: LoadedModel,
    readonly spec: ModelSpec,
    readonly probe: ProbeModel,
    readonly blocks: ProbeBlocks,
  ) {
    this.runner = new SegmentRunner(probe.model, loaded.dir, blocks);
  }

  /**
   * Build the probe for `taps` (the full list, base taps included) and analyse its blocks; refuses graphs it
   * cannot cut. `site` (default: the CPU EP, no budget) is where the probe's head Gram matrices are made.
   */
  static async build(loaded: LoadedModel, spec: ModelSpec, taps: Tap[], site: Omit<ScoreCompute, 'model'> = { ep: 'cpu' }): Promise<BlockwiseProbe> {
    return BlockwiseProbe.fromProbe(loaded, spec, await buildProbe(loaded.model, spec, taps, { ...site, model: loaded }));
  }

  static fromProbe(loaded: LoadedModel, spec: ModelSpec, probe: ProbeModel): BlockwiseProbe {
    return new BlockwiseProbe(loaded, spec, probe, new ProbeBlocks(probe.model, spec));
  }

  /** The embedding segment, then one per range. */
  segments(ranges: BlockRange[]): ProbeSegment[] {
    return this.blocks.segments(ranges);
  }

  /** What a segment's session feeds and fetches for the probe: its taps, accumulated as the batches come. */
  private tapRun(seg: ProbeSegment, batches: TokenBatch[], opts: SegmentRunOptions): { run: SegmentBatchRun; acc: StatisticsAccumulator } {
    const taps = this.probe.outputs.filter((o) => seg.tapOutputs.some((t) => t.name === o.output));
    const acc = new StatisticsAccumulator(taps.map((t) => t.tap));
    // the probe outputs beyond the taps that this segment computes (reconstruction's input moments)
    const extra = (opts.extraOutputs ?? []).filter((n) => seg.tapOutputs.some((t) => t.name === n));
    const run: SegmentBatchRun = {
      feeds: (session, b, carriedIn) => probeFeeds(session, this.spec, batches[b]!, carriedIn),
      fetch: [...taps.map((t) => t.output), ...extra],
      onResult: (b, result) => {
        const outputs: Record<string, Float32Array> = {};
        for (const t of taps) outputs[t.key] = toFloat32(result[t.output]!);
        acc.addBatch(batches[b]!.batch, batches[b]!.seq, outputs);
        if (extra.length) opts.onExtraOutputs?.(b, Object.fromEntries(extra.map((n) => [n, toFloat32(result[n]!)])));
      },
    };
    return { run, acc };
  }

  /**
   * Run one segment over every batch: `carried[b]` must hold the segment's `carriedIn` for batch b
   * (nothing for the embedding segment). One session, released before this returns.
   */
  async runSegment(seg: ProbeSegment, batches: TokenBatch[], carried: Feeds[], opts: SegmentRunOptions = {}): Promise<SegmentResult> {
    const { run, acc } = this.tapRun(seg, batches, opts);
    const r = await this.runner.runSegment(seg, batches.length, carried, run, opts);
    return { carried: r.carried, statistics: acc.result(r.ep), ep: r.ep };
  }

  /** Every segment over every batch, the statistics of each segment's taps (in segment order). */
  async runAll(ranges: BlockRange[], batches: TokenBatch[], opts: BlockwiseRunOptions = {}): Promise<{ parts: Statistics[]; carriedHostBytes: number }> {
    const parts: Statistics[] = [];
    const r = await this.runner.runAll(
      ranges,
      batches.length,
      (seg) => {
        const { run, acc } = this.tapRun(seg, batches, opts);
        return { ...run, done: (ep) => parts.push(acc.result(ep)) };
      },
      opts,
    );
    return { parts, carriedHostBytes: r.carriedHostBytes };
  }
}

export interface BlockwiseRunOptions extends SegmentRunOptions, SegmentHooks {}

/**
 * Every segment in order over every batch; the statistics of all taps, with the keys in `taps` order
 * (as the whole-model run writes them). Each tap's rows are added in the same order as there, so the
 * float64 sums match the whole-model run exactly when ORT's float32 outputs do.
 */
export async function runSegments(bw: BlockwiseProbe, ranges: BlockRange[], taps: Tap[], batches: TokenBatch[], opts: BlockwiseRunOptions = {}): Promise<{ statistics: Statistics; carriedHostBytes: number }> {
  const { parts, carriedHostBytes } = await bw.runAll(ranges, batches, opts);
  const first = parts[0]!;
  const all: Record<string, number[]> = {};
  for (const p of parts) Object.assign(all, p.taps);
  const ordered: Record<string, number[]> = {};
  for (const t of taps) {
    const key = tapKey(t);
    if (!all[key]) throw new ScoringError(`no segment computed tap ${key}`);
    ordered[key] = all[key]!;
  }
  const ep = parts.find((p) => p.executionProvider)?.executionProvider;
  return { statistics: { ...first, taps: ordered, ...(ep ? { executionProvider: ep } : {}) }, carriedHostBytes };
}

function tensorBytes(t: OrtTensor): number {
  return (t.data as ArrayBufferView).byteLength;
}

const ELEM: Record<string, number> = {
  float32: DataType.FLOAT,
  float16: DataType.FLOAT16,
  float64: DataType.DOUBLE,
  int64: DataType.INT64,
  int32: DataType.INT32,
  int8: DataType.INT8,
  uint8: DataType.UINT8,
  bool: DataType.BOOL,
};

function elemType(type: string, name: string): number {
  const e = ELEM[type];
  if (e === undefined) throw new ScoringError(`carried tensor "${name}" has type ${type}, which block-by-block scoring does not carry`);
  return e;
}

/** A carried input's declaration from the producing session's output metadata (fixed dims kept). */
function typeOfMetadata(m: OrtValueMetadata): CarriedType {
  if (!m.isTensor) throw new ScoringError(`carried value "${m.name}" is not a tensor`);
  return { tensorType: { elemType: elemType(m.type, m.name), shape: { dim: m.shape.map((d) => (typeof d === 'number' && d >= 0 ? { dimValue: d } : {})) } } };
}

/** A carried input's declaration from a tensor given by the caller: its type and rank, dims left free. */
function typeOfTensor(t: OrtTensor): CarriedType {
  return { tensorType: { elemType: elemType(t.type, 'input'), shape: { dim: t.dims.map(() => ({})) } } };
}
