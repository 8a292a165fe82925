/**
 * Cutting a probe model into segments that run one after another: the embedding segment (token ids ->
 * the hidden state entering block 0), then runs of consecutive decoder blocks, each taking the hidden
 * state its predecessor produced and returning the next one with its blocks' tap outputs.
 *
 * Which block a node belongs to is read off the graph, not off exporter names: a tensor's depth is the
 * last block input x_l (the residual stream entering block l, from the ModelSpec) it depends on; a
 * node runs in the segment holding the block of its depth. Three refinements:
 * - nodes that depend on no hidden state (rotary cos/sin from position ids, masks from the attention
 *   mask, constants) are recomputed in every segment that needs them, from the model's own inputs,
 *   rather than carried: carrying a [batch, 1, seq, seq] mask for the whole calibration set would cost
 *   samples x seq^2 x 4 bytes of host memory (2 GB at 128 x 2048), recomputing costs a few elementwise
 *   ops per segment;
 * - a tap on block l's output y_l = x_{l+1} (depth l+1) runs with block l, so a segment's statistics
 *   are complete when it ends (the per-block API relies on it);
 * - any other tensor computed in one segment and read in a later one (e.g. a mask built from the
 *   shape of x_0) is carried between segments on the host, like the hidden state.
 * A graph where a block's attention or FFN tensors do not have that block's depth (the onnxruntime-genai
 * builder fuses block l's residual add into block l+1's norm, so no tensor is block l+1's input alone)
 * is refused with a message: such a model is scored whole.
 */
import {
  GraphIndex,
  materialiseTensor,
  tensorByteLength,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from '@llm-bip/onnx-io';
import type { ModelSpec } from '@llm-bip/model';
import { ScoringError } from '../errors.js';
import { PROBE_OUTPUT_PREFIX } from '../probe/build-probe.js';
import type { TapTensor } from '../types.js';

/** Consecutive decoder blocks, first..last inclusive. */
export interface BlockRange {
  first: number;
  last: number;
}

/** One standalone piece of the probe. */
export interface ProbeSegment {
  /** position in the run order (0 = the embedding segment) */
  index: number;
  /** the decoder blocks it runs; null for the embedding segment */
  blocks: BlockRange | null;
  /** its nodes, in topological order (shared with the probe, not copied) */
  nodes: NodeProto[];
  /** the initializers its nodes read (shared; external ones keep pointing into the model's data file) */
  initializers: TensorProto[];
  /** the model inputs it reads (ids, mask, past KV), declared as in the model */
  modelInputs: ValueInfoProto[];
  /** tensors earlier segments computed that it reads: the hidden state entering its first block first */
  carriedIn: string[];
  /** tensors it computes that later segments read: the hidden state leaving its last block first */
  carriedOut: string[];
  /** the probe's tap outputs it computes */
  tapOutputs: ValueInfoProto[];
  /** bytes of its initializers (weights, the probe's Gram matrices, constants) */
  weightBytes: number;
}

/** The dtype and dims of a carried tensor, for declaring it as the next segment's input. */
export type CarriedType = NonNullable<ValueInfoProto['type']>;

/** Tap tensors that must have their block's depth for the block to run alone. */
const BLOCK_TENSORS: readonly TapTensor[] = ['attnContext', 'residualMid', 'gateOut', 'upOut', 'ffnAct'];

/**
 * The block structure of a probe graph, analysed once: which block every node belongs to. `segments`
 * then cuts it along any ranges of blocks. The probe model is not changed after construction (block
 * input/output tensors are materialised once here, on the probe, which is a copy).
 */
export class ProbeBlocks {
  readonly numLayers: number;
  /** the hidden state entering each block (x_0 .. x_{L-1}) and leaving the last one (x_L) */
  readonly hidden: string[];
  private readonly order: NodeProto[];
  private readonly index: GraphIndex;
  /** tensor -> depth (-1: depends on no hidden state) */
  private readonly depth = new Map<string, number>();
  /** node -> the block it runs with (absent: no hidden-state dependency, recomputed where needed) */
  private readonly blockOf = new Map<NodeProto, number>();
  private readonly producerOf = new Map<string, NodeProto>();

  /**
   * `probe`: the probe, or any model of `spec` (evaluation cuts the model with its scoring head the
   * same way; graph outputs that are not taps run in the segment of their depth, the head in the last).
   * `refuse` makes the error for a graph that cannot be cut (default: scoring's, naming its options).
   */
  constructor(
    readonly probe: ModelProto,
    spec: ModelSpec,
    private readonly refuse: (why: string) => Error = scoringRefusal,
  ) {
    const graph = probe.graph;
    if (!graph) throw new ScoringError('the probe model has no graph');
    this.numLayers = spec.numLayers;
    if (spec.numLayers < 1) throw new ScoringError('the model has no decoder blocks to run block by block');
    // x_l for every block, then x_L: materialised names (an unnamed optional output gets one)
    this.hidden = [...spec.layers.map((l) => materialiseTensor(graph, l.input).name), materialiseTensor(graph, spec.layers[spec.numLayers - 1]!.output).name];
    for (let i = 1; i < spec.numLayers; i++) {
      if (materialiseTensor(graph, spec.layers[i - 1]!.output).name !== this.hidden[i]) {
        throw this.refuse(`block ${i}'s input is not block ${i - 1}'s output (a fused op sits between them)`);
      }
    }
    this.index = new GraphIndex(graph);
    this.order = this.index.topologicalOrder();
    const cut = new Map(this.hidden.map((name, l) => [name, l]));
    for (const node of this.order) {
      let d = -1;
      for (const i of [...(node.input ?? []), ...this.index.implicitInputs(node)]) if (i) d = Math.max(d, this.depth.get(i) ?? -1);
      for (const o of node.output ?? []) {
        if (!o) continue;
        this.depth.set(o, cut.get(o) ?? d);
        this.producerOf.set(o, node);
      }
      if (d >= 0) this.blockOf.set(node, Math.min(d, this.numLayers - 1));
    }
    for (const l of spec.layers) {
      for (const t of BLOCK_TENSORS) {
        const name = materialiseTensor(graph, l[t]).name;
        const d = this.depth.get(name);
        if (d !== l.index) throw this.refuse(`block ${l.index}'s ${t} tensor "${name}" depends on ${d === undefined || d < 0 ? 'no block input' : `block ${d}'s input`}`);
      }
    }
    this.pullBackOutputTaps();
  }

  /**
   * Nodes that only feed taps of blocks before their depth (the reductions over y_l = x_{l+1}) move to
   * the latest such block, when everything they read is computed by then.
   */
  private pullBackOutputTaps(): void {
    const graph = this.probe.graph!;
    // latest block whose tap each tensor feeds; every probe node feeds some tap (removeUnused)
    const latestTap = new Map<string, number>();
    for (const o of graph.output ?? []) {
      const layer = tapLayer(o.name ?? '');
      if (layer !== undefined) latestTap.set(o.name!, Math.max(latestTap.get(o.name!) ?? -1, layer));
    }
    for (let k = this.order.length - 1; k >= 0; k--) {
      const node = this.order[k]!;
      const latest = Math.max(-1, ...(node.output ?? []).map((o) => latestTap.get(o) ?? -1));
      if (latest < 0) continue;
      for (const i of [...(node.input ?? []), ...this.index.implicitInputs(node)]) if (i) latestTap.set(i, Math.max(latestTap.get(i) ?? -1, latest));
    }
    for (const node of this.order) {
      const block = this.blockOf.get(node);
      if (block === undefined) continue;
      const latest = Math.max(-1, ...(node.output ?? []).map((o) => latestTap.get(o) ?? -1));
      if (latest < 0 || latest >= block) continue;
      const ready = [...(node.input ?? []), ...this.index.implicitInputs(node)].every((i) => {
        if (!i || (this.depth.get(i) ?? -1) < 0) return true;
        const p = this.producerOf.get(i);
        if (!p) return true;
        const pb = this.blockOf.get(p);
        // the producer runs in a block at or before `latest`, or it is the cut x_{latest+1} made there
        return pb === undefined ? i === this.hidden[0] && latest >= 0 : pb <= latest;
      });
      if (ready) this.blockOf.set(node, latest);
    }
  }

  /**
   * Bytes of the initializers each segment would read with one block per segment: the embedding's,
   * then every block's (its weights, Gram matrices and the constants it recomputes from).
   */
  weightBytes(): { embedding: number; blocks: number[] } {
    this.singles ??= this.segments(Array.from({ length: this.numLayers }, (_, l) => ({ first: l, last: l }))).map((s) => s.weightBytes);
    return { embedding: this.singles[0]!, blocks: this.singles.slice(1) };
  }
  private singles: number[] | undefined;

  /**
   * The embedding segment, then one segment per range. The ranges must cover blocks 0..L-1 in order,
   * each once.
   */
  segments(ranges: BlockRange[]): ProbeSegment[] {
    checkRanges(ranges, this.numLayers);
    const graph = this.probe.graph!;
    const segOfBlock = new Array<number>(this.numLayers);
    ranges.forEach((r, k) => {
      for (let l = r.first; l <= r.last; l++) segOfBlock[l] = k + 1;
    });
    // members: the embedding segment is everything x_0 needs; a block segment its blocks' nodes
    const members: Set<NodeProto>[] = [new Set(), ...ranges.map(() => new Set<NodeProto>())];
    for (const node of this.order) {
      const b = this.blockOf.get(node);
      if (b !== undefined) members[segOfBlock[b]!]!.add(node);
    }
    const x0 = this.producerOf.get(this.hidden[0]!);
    if (!x0) throw this.refuse(`block 0's input "${this.hidden[0]}" is not computed by a node`);
    members[0]!.add(x0);
    // recompute, in each segment, the hidden-state-free nodes it reads
    for (const set of members) {
      const stack = [...set];
      while (stack.length) {
        const node = stack.pop()!;
        for (const i of [...(node.input ?? []), ...this.index.implicitInputs(node)]) {
          if (!i || (this.depth.get(i) ?? -1) >= 0) continue;
          const p = this.producerOf.get(i);
          if (p && !set.has(p)) {
            set.add(p);
            stack.push(p);
          }
        }
      }
    }
    const producedIn = new Map<string, number>();
    members.forEach((set, s) => {
      for (const n of set) for (const o of n.output ?? []) if (o && (this.depth.get(o) ?? -1) >= 0) producedIn.set(o, s);
    });
    const tapOutputs = new Map((graph.output ?? []).map((o) => [o.name ?? '', o]));
    const readers = new Map<string, number[]>(); // carried tensor -> segments reading it
    const segs = members.map((set, s) => {
      const nodes = this.order.filter((n) => set.has(n));
      const inits = new Map<string, TensorProto>();
      const modelInputs = new Map<string, ValueInfoProto>();
      const carriedIn = new Set<string>();
      const made = new Set(nodes.flatMap((n) => n.output ?? []));
      for (const n of nodes) {
        for (const i of [...(n.input ?? []), ...this.index.implicitInputs(n)]) {
          if (!i || made.has(i)) continue;
          const init = this.index.initializer(i);
          if (init && !this.index.isGraphInput(i)) inits.set(i, init);
          else if (this.index.isGraphInput(i)) modelInputs.set(i, (graph.input ?? []).find((v) => v.name === i)!);
          else if (producedIn.has(i)) {
            carriedIn.add(i);
            readers.set(i, [...(readers.get(i) ?? []), s]);
          }
        }
      }
      const firstHidden = s === 0 ? undefined : this.hidden[ranges[s - 1]!.first]!;
      const weightBytes = [...inits.values()].reduce((a, t) => a + tensorByteLength(t), 0);
      return {
        index: s,
        blocks: s === 0 ? null : ranges[s - 1]!,
        nodes,
        initializers: [...inits.values()],
        modelInputs: [...modelInputs.values()],
        carriedIn: firstHidden ? [firstHidden, ...[...carriedIn].filter((n) => n !== firstHidden)] : [...carriedIn],
        carriedOut: [] as string[],
        tapOutputs: nodes.flatMap((n) => (n.output ?? []).filter((o) => tapOutputs.has(o)).map((o) => tapOutputs.get(o)!)),
        weightBytes,
      };
    });
    for (const [name, rs] of readers) {
      const from = producedIn.get(name)!;
      if (rs.some((r) => r <= from)) throw this.refuse(`tensor "${name}" is read by a segment before the one that computes it`);
      segs[from]!.carriedOut.push(name);
    }
    segs.forEach((seg, s) => {
      const next = s + 1 < segs.length ? this.hidden[ranges[s]!.first]! : undefined;
      if (next) seg.carriedOut = [next, ...seg.carriedOut.filter((n) => n !== next)];
      if (next && !segs[s]!.nodes.some((n) => (n.output ?? []).includes(next))) throw this.refuse(`segment ${s} does not compute "${next}"`);
    });
    return segs;
  }
}

/**
 * A segment as a standalone model: the probe's header (IR version, opsets, functions), its nodes and
 * initializers, the model inputs it reads and its carried inputs declared with `carriedTypes`, its
 * carried tensors and taps as outputs (ORT infers the carried outputs' types).
 */
export function segmentModel(probe: ModelProto, seg: ProbeSegment, carriedTypes: (name: string) => CarriedType): ModelProto {
  const graph = probe.graph!;
  const names = new Set([...seg.nodes.flatMap((n) => [...(n.input ?? []), ...(n.output ?? [])])]);
  const boundary = new Set([...seg.carriedIn, ...seg.carriedOut]);
  const known = new Map((graph.valueInfo ?? []).filter((v) => v.type && seg.carriedOut.includes(v.name ?? '')).map((v) => [v.name!, v]));
  return {
    ...probe,
    graph: {
      ...graph,
      name: `${graph.name ?? 'probe'}.segment${seg.index}`,
      node: seg.nodes,
      initializer: seg.initializers,
      input: [...seg.modelInputs, ...seg.carriedIn.map((name) => ({ name, type: carriedTypes(name) }))],
      // a carried output keeps the type the model declares for it, if any (else ORT infers it)
      output: [...seg.carriedOut.map((name) => known.get(name) ?? { name }), ...seg.tapOutputs],
      valueInfo: (graph.valueInfo ?? []).filter((v) => names.has(v.name ?? '') && !boundary.has(v.name ?? '')),
      sparseInitializer: [],
    },
  };
}

function tapLayer(output: string): number | undefined {
  if (!output.startsWith(PROBE_OUTPUT_PREFIX)) return undefined;
  const m = /^layers\.(\d+)\./.exec(output.slice(PROBE_OUTPUT_PREFIX.length));
  return m ? Number(m[1]) : undefined;
}

function checkRanges(ranges: BlockRange[], numLayers: number): void {
  let next = 0;
  for (const r of ranges) {
    if (!Number.isInteger(r.first) || !Number.isInteger(r.last) || r.first !== next || r.last < r.first) {
      throw new ScoringError(`block ranges must cover blocks 0..${numLayers - 1} in order, each once; got ${ranges.map((x) => `${x.first}-${x.last}`).join(', ')}`);
    }
    next = r.last + 1;
  }
  if (next !== numLayers) throw new ScoringError(`block ranges end at block ${next - 1}; the model has ${numLayers} blocks (0..${numLayers - 1})`);
}

/** Why a model cannot be scored block by block, and what to do instead. */
export function scoringRefusal(why: string): ScoringError {
  return new ScoringError(
    `this model cannot be scored block by block: ${why}. Block-by-block scoring needs every block's input as a tensor of its own (our exporter, the torch.onnx exporters); score it whole: leave out --max-device-memory and --blocks-per-session.`,
  );
}
