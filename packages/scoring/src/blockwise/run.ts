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
import { DataType, type LoadedModel } from '@llm-bip/onnx-io';
import type { ModelSpec } from '@llm-bip/model';
import { createSession, toFloat32, type EpChoice, type Feeds, type OrtTensor, type OrtValueMetadata, type TokenBatch } from '@llm-bip/runtime';
import { ScoringError } from '../errors.js';
import { buildProbe, type ProbeModel } from '../probe/build-probe.js';
import { probeFeeds } from '../probe/feeds.js';
import { writeProbeFile } from '../probe/probe-file.js';
import { StatisticsAccumulator } from '../statistics.js';
import { tapKey, type Statistics, type Tap } from '../types.js';
import { modelWeights } from '../weights.js';
import { ProbeBlocks, segmentModel, type BlockRange, type CarriedType, type ProbeSegment } from './partition.js';

export interface SegmentRunOptions {
  ep?: EpChoice;
  threads?: number;
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
  /** types of carried tensors, learnt from the sessions that produce them */
  private readonly carriedTypes = new Map<string, CarriedType>();

  private constructor(
    readonly loaded: LoadedModel,
    readonly spec: ModelSpec,
    readonly probe: ProbeModel,
    readonly blocks: ProbeBlocks,
  ) {}

  /** Build the probe for `taps` (the full list, base taps included) and analyse its blocks; refuses graphs it cannot cut. */
  static async build(loaded: LoadedModel, spec: ModelSpec, taps: Tap[]): Promise<BlockwiseProbe> {
    return BlockwiseProbe.fromProbe(loaded, spec, await buildProbe(loaded.model, spec, taps, modelWeights(loaded.model, loaded.dir)));
  }

  static fromProbe(loaded: LoadedModel, spec: ModelSpec, probe: ProbeModel): BlockwiseProbe {
    return new BlockwiseProbe(loaded, spec, probe, new ProbeBlocks(probe.model, spec));
  }

  /** The embedding segment, then one per range. */
  segments(ranges: BlockRange[]): ProbeSegment[] {
    return this.blocks.segments(ranges);
  }

  /**
   * Run one segment over every batch: `carried[b]` must hold the segment's `carriedIn` for batch b
   * (nothing for the embedding segment). One session, released before this returns.
   */
  async runSegment(seg: ProbeSegment, batches: TokenBatch[], carried: Feeds[], opts: SegmentRunOptions = {}): Promise<SegmentResult> {
    if (carried.length !== batches.length) throw new ScoringError(`runSegment: ${carried.length} carried entries for ${batches.length} batches`);
    for (const name of seg.carriedIn) {
      if (!carried.every((c) => c[name])) throw new ScoringError(`segment ${seg.index} reads "${name}", which the carried tensors do not hold: run the segments before it first`);
    }
    const model = segmentModel(this.probe.model, seg, (name) => this.carriedTypes.get(name) ?? typeOfTensor(carried[0]![name]!));
    const taps = this.probe.outputs.filter((o) => seg.tapOutputs.some((t) => t.name === o.output));
    const file = await writeProbeFile(model, this.loaded.dir);
    try {
      const session = await createSession(file, {
        ...(opts.ep ? { ep: opts.ep } : {}),
        ...(opts.threads ? { threads: opts.threads } : {}),
        ...(opts.onLog ? { onLog: opts.onLog } : {}),
      });
      try {
        for (const m of session.outputMetadata) if (seg.carriedOut.includes(m.name)) this.carriedTypes.set(m.name, typeOfMetadata(m));
        const acc = new StatisticsAccumulator(taps.map((t) => t.tap));
        const extra = (opts.extraOutputs ?? []).filter((n) => seg.tapOutputs.some((t) => t.name === n));
        const names = [...seg.carriedOut, ...taps.map((t) => t.output), ...extra];
        const out: Feeds[] = [];
        for (const [b, batch] of batches.entries()) {
          const inputs: Feeds = {};
          for (const name of seg.carriedIn) inputs[name] = carried[b]![name]!;
          const result = await session.run(probeFeeds(session, this.spec, batch, inputs), names);
          const outputs: Record<string, Float32Array> = {};
          for (const t of taps) outputs[t.key] = toFloat32(result[t.output]!);
          acc.addBatch(batch.batch, batch.seq, outputs);
          if (extra.length) opts.onExtraOutputs?.(b, Object.fromEntries(extra.map((n) => [n, toFloat32(result[n]!)])));
          const next: Feeds = {};
          for (const name of seg.carriedOut) next[name] = result[name]!;
          out.push(next);
          opts.onBatch?.(b + 1, batches.length);
        }
        return { carried: out, statistics: acc.result(session.ep), ep: session.ep };
      } finally {
        await session.release();
      }
    } finally {
      await file.cleanup();
    }
  }
}

export interface BlockwiseRunOptions extends SegmentRunOptions {
  /** before each segment's session is made */
  onSegment?: (seg: ProbeSegment, of: number) => void;
  /** checked between segments */
  signal?: AbortSignal;
}

/**
 * Every segment in order over every batch; the statistics of all taps, with the keys in `taps` order
 * (as the whole-model run writes them). Each tap's rows are added in the same order as there, so the
 * float64 sums match the whole-model run exactly when ORT's float32 outputs do.
 */
export async function runSegments(bw: BlockwiseProbe, ranges: BlockRange[], taps: Tap[], batches: TokenBatch[], opts: BlockwiseRunOptions = {}): Promise<{ statistics: Statistics; carriedHostBytes: number }> {
  const segs = bw.segments(ranges);
  let carried: Feeds[] = batches.map(() => ({}));
  const parts: Statistics[] = [];
  let carriedHostBytes = 0;
  for (const [k, seg] of segs.entries()) {
    opts.signal?.throwIfAborted();
    opts.onSegment?.(seg, segs.length);
    // the execution-provider line once, not once per session
    const r = await bw.runSegment(seg, batches, carried, k === 0 ? opts : { ...opts, onLog: undefined });
    parts.push(r.statistics);
    // keep what a later segment still reads, drop the rest: the host holds one generation of states
    const later = new Set(segs.slice(k + 1).flatMap((s) => s.carriedIn));
    carried = carried.map((c, b) => {
      const keep: Feeds = {};
      for (const [name, t] of [...Object.entries(c), ...Object.entries(r.carried[b]!)]) if (later.has(name)) keep[name] = t;
      return keep;
    });
    carriedHostBytes = Math.max(carriedHostBytes, carried.reduce((a, c) => a + Object.values(c).reduce((x, t) => x + tensorBytes(t), 0), 0));
  }
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
