/**
 * Sequential pruning: the model is pruned block by block in one pass over the calibration rows, each
 * block scored, planned and (optionally) reconstructed on the inputs that the already-pruned blocks
 * 0..l-1 produce, instead of on the dense model's.
 *
 * How the global ratio is honoured: the allocation (how many KV groups and FFN channels each layer
 * keeps) is the one-shot plan's, made from the global scores of the dense model (planFromScores, any
 * allocation mode, --align included); only the choice of *which* groups a layer keeps is made again,
 * from block l's scores on the pruned inputs (scoring's reselectLayer). So the plan removes exactly the
 * one-shot plan's parameter count, and the criterion's cross-layer comparison is made once, on one
 * model, where its scores are comparable.
 *
 * Per block l (scoring's per-block API, BlockwiseProbe.runSegment, one session per run):
 * (a) the dense block runs on the carried hidden states: its taps (and, with reconstruction, the
 *     moments of its o_proj input) over the calibration rows; the criterion scores block l alone
 *     (llm-bip reuses the one-shot spectral norms: they are weights' alone), reselectLayer keeps the
 *     allocated KV groups, and o_proj gets its bias: the least-squares fit (reconstruction) or the mean
 *     compensation, from these inputs' moments/means;
 * (b) when the attention lost heads, the block runs again with its attention pruned (and refit): the
 *     FFN's inputs are then what they will be in the pruned model, so its taps (gateOut, upOut,
 *     ffnAct, the block output), the choice of channels and down_proj's fit or compensation come from
 *     this run;
 * (c) the pruned block runs on the same carried states and its output is carried to block l+1.
 * A pruned block is the dense block's graph with o_proj/down_proj weights whose removed input rows are
 * zero (refit rows where reconstructed) and the bias added (scoring's patchSegment): the same function
 * as the pruned model's block, so what follows sees what it will see after surgery. Each run computes
 * only the taps and moments it is for (patchSegment's keepTaps). Cost: one block run more per block whose
 * attention is cut, three instead of two; measured on bip-llama-small at 50 % with reconstruction (6 of 8
 * blocks lose heads, 64 x 128 rows, CPU) 87 s -> 91 s for the pass, the fits included.
 *
 * The written model is made by ordinary surgery from the resulting plan, with the compensation
 * statistics (every block's, on its pruned inputs; the FFN half's with the block's attention pruned) or
 * the reconstruction store of this pass.
 */
import { cloneModel, encodeFloats, tensorDims, type TensorProto } from '@llm-bip/onnx-io';
import { groupOf, range, type LayerPlan, type PruningPlan } from '@llm-bip/model';
import { type EpChoice, type Feeds, type OrtTensor } from '@llm-bip/runtime';
import {
  baseTaps,
  batchSets,
  BlockwiseProbe,
  buildProbe,
  getCriterion,
  modelWeights,
  MomentAccumulator,
  patchSegment,
  ProbeBlocks,
  reselectLayer,
  resolveCriterionOptions,
  ScoringError,
  setsBatchSize,
  tapValues,
  uniqueTaps,
  type CalibrationSet,
  type GroupScores,
  type LinearWeight,
  type ProbeModel,
  type ProbeSegment,
  type ProjectionMoments,
  type ProjectionPatch,
  type Statistics,
  type Tap,
  type TapTensor,
} from '@llm-bip/scoring';
import { compensationBias, removalOrder, removedProjectionInputs, type ReconstructionStore } from '@llm-bip/surgery';
import { DEFAULTS } from './defaults.js';
import { hooksOf, type PipelineHooks } from './hooks.js';
import { holdoutRowsFor, newReconstructionStore, refitInto, solveProducts, type ReconstructRequest } from './reconstruct.js';
import type { ModelInput } from './score.js';

export interface SequentialRequest {
  /** the one-shot plan: its per-layer counts are the allocation the sequential plan keeps */
  plan: PruningPlan;
  /** the one-shot scores: the criterion, its resolved options (llm-bip's spectral norms are reused) */
  scores: GroupScores;
  /** the criterion options the one-shot scoring was given */
  criterionOptions?: Record<string, unknown>;
  /** mean compensation of the pruned projections (DEFAULTS.compensate); ignored with `reconstruct` */
  compensate?: boolean;
  /** least-squares reconstruction of every pruned projection on its pruned inputs; none when absent */
  reconstruct?: ReconstructRequest;
  /**
   * Which groups a block keeps (the allocated number of them): 'criterion' (default) by the criterion's
   * scores of the block; 'reconstruction' by the greedy least-loss removal for the refit (surgery's
   * removalOrder on the projection's input moments; needs `reconstruct`).
   */
  select?: 'criterion' | 'reconstruction';
  /** ridge of that choice, relative as the reconstruction's (DEFAULTS.reconstruction.selectAlpha) */
  selectAlpha?: number;
  /** the kinds chosen that way (default both); the others by the criterion */
  selectKinds?: ReadonlyArray<'heads' | 'channels'>;
  /** rescore each block with this criterion instead of the one that made `scores` (the allocation stays theirs) */
  selectCriterion?: string;
  ep?: EpChoice;
  batchSize?: number;
  threads?: number;
}

export interface SequentialResult {
  plan: PruningPlan;
  /** every block's taps, measured on the inputs of the already-pruned blocks before it; the FFN half's (gateOut, upOut, ffnAct, output) with the block's own attention pruned */
  statistics: Statistics;
  /** the fits, with `reconstruct` (dispose() when done) */
  reconstruction?: ReconstructionStore;
}

export interface SequentialHooks extends PipelineHooks {
  /** the hidden state (one tensor per batch, batches in row order) entering block `layer`, before it is scored (tests) */
  onBlockInput?(layer: number, hidden: readonly OrtTensor[]): void;
  /** the input moments a projection is refit on, as they are used (tests) */
  onMoments?(moments: ProjectionMoments): void;
}

export async function sequentialPrune(model: ModelInput, calibration: CalibrationSet, req: SequentialRequest, hooks: SequentialHooks = {}): Promise<SequentialResult> {
  const h = hooksOf(hooks);
  const { spec, loaded } = model;
  const rows = calibration.rows;
  if (rows.length === 0) throw new ScoringError('sequential pruning needs calibration rows');
  const seqLen = rows[0]!.length;
  if (req.plan.layers.length !== spec.numLayers) throw new ScoringError(`the allocation plan has ${req.plan.layers.length} layers, the model ${spec.numLayers}`);
  // the criterion that chooses within a block: the scores' own (its resolved options reused), or another one
  const other = req.selectCriterion !== undefined && req.selectCriterion !== req.scores.criterion;
  const criterion = getCriterion(other ? req.selectCriterion! : req.scores.criterion);
  const options = other ? resolveCriterionOptions(criterion, undefined, { seed: calibration.seed }) : { ...resolveCriterionOptions(criterion, req.criterionOptions, { seed: calibration.seed }), ...(req.scores.options ?? {}) };
  const taps = uniqueTaps([...baseTaps(spec), ...criterion.taps(spec, options)]);
  const reconstruct = req.reconstruct;
  const compensate = !reconstruct && (req.compensate ?? DEFAULTS.compensate);
  const selectByFit = req.select === 'reconstruction';
  if (selectByFit && !reconstruct) throw new ScoringError('choosing the kept groups by reconstruction loss needs the reconstruction: add --reconstruct');
  const weights = modelWeights(loaded.model, loaded.dir);
  const probe = await buildProbe(loaded.model, spec, taps, { model: loaded, ep: req.ep ?? DEFAULTS.ep, ...(req.threads ? { threads: req.threads } : {}) }, {
    moments: reconstruct ? spec.layers.flatMap((l) => [{ layer: l.index, tensor: 'attnContext' as const }, { layer: l.index, tensor: 'ffnAct' as const }]) : [],
  });
  let bw: BlockwiseProbe;
  try {
    bw = BlockwiseProbe.fromProbe(loaded, spec, probe);
  } catch (e) {
    throw sequentialRefusal(e);
  }
  const segs = bw.segments(range(spec.numLayers).map((l) => ({ first: l, last: l })));

  // the fitting rows and the held-out rows (ridge choice) are batched apart
  const hold = reconstruct ? holdoutRowsFor(rows.length, reconstruct) : 0;
  const sets = hold > 0 ? [rows.slice(0, rows.length - hold), rows.slice(rows.length - hold)] : [rows];
  const batchSize = setsBatchSize(loaded, spec, sets, req.batchSize ?? 8);
  const { batches, setOf } = batchSets(sets, batchSize);

  // which blocks lose attention inputs: those run three times (dense, attention pruned, pruned), the others twice
  const attnCut = spec.layers.map((layer) => removedProjectionInputs(spec, { ...req.plan, layers: [allocationOf(req.plan, layer.index)] }).some((c) => c.block === 'attention'));
  const bar = h.progress({ label: 'sequential pruning', total: rows.length * (1 + 2 * spec.numLayers + attnCut.filter(Boolean).length), unit: 'sample' });
  let passed = 0;
  const runOpts = (extra: Partial<Parameters<BlockwiseProbe['runSegment']>[3]> = {}) => ({
    ep: req.ep ?? DEFAULTS.ep,
    ...(req.threads ? { threads: req.threads } : {}),
    onBatch: (done: number) => {
      h.check();
      bar.update(passed + batches.slice(0, done).reduce((n, b) => n + b.batch, 0));
    },
    ...extra,
  });
  const later = (k: number) => new Set(segs.slice(k + 1).flatMap((s) => s.carriedIn));
  const keepFor = (k: number, carried: Feeds[], made: Feeds[]): Feeds[] => {
    const wanted = later(k);
    return carried.map((c, b) => {
      const keep: Feeds = {};
      for (const [name, t] of [...Object.entries(c), ...Object.entries(made[b]!)]) if (wanted.has(name)) keep[name] = t;
      return keep;
    });
  };

  const products = reconstruct ? solveProducts({ ep: req.ep, ...(req.threads ? { threads: req.threads } : {}) }, h.log) : undefined;
  const store = reconstruct ? newReconstructionStore(reconstruct, calibration, hold, { sequential: true }) : undefined;
  try {
    const embedding = await bw.runSegment(segs[0]!, batches, batches.map(() => ({})), runOpts({ onLog: h.log }));
    passed += rows.length;
    let carried = keepFor(0, batches.map(() => ({})), embedding.carried);
    const parts: Statistics[] = [embedding.statistics];
    const layers: LayerPlan[] = [];

    /** Block `seg` (patched) on the carried states: the taps `want` selects and input moments `moments`. */
    const runBlock = async (seg: ProbeSegment, patches: ProjectionPatch[], want: (t: Tap) => boolean, moments: ProbeModel['moments']) => {
      const acc = new MomentAccumulator(moments, sets.length, seqLen);
      const keepTaps = [...probe.outputs.filter((o) => want(o.tap) && seg.tapOutputs.some((t) => t.name === o.output)).map((o) => o.output), ...acc.names];
      const r = await bw.runSegment(patchSegment(seg, patches, { keepTaps }), batches, carried, runOpts(moments.length ? { extraOutputs: acc.names, onExtraOutputs: (b, out) => acc.add(setOf[b]!, batches[b]!.batch, out) } : {}));
      passed += rows.length;
      return { ...r, moments: acc.result() };
    };
    /** The patch of one cut projection: refit on `moments`, or mean-compensated from `stats`, or just cut. */
    const patchFor = async (c: ReturnType<typeof removedProjectionInputs>[number], stats: Statistics, moments: ProjectionMoments[]): Promise<ProjectionPatch> => {
      const what = `layer ${c.layer} ${c.block === 'attention' ? 'o_proj' : 'down_proj'}`;
      const w = await weights.linear(c.linear);
      const tensor = c.block === 'attention' ? 'attnContext' : 'ffnAct';
      let kept: ArrayLike<number> | undefined;
      let bias: Float64Array | undefined;
      if (store) {
        const m = moments.find((x) => x.layer === c.layer && x.tensor === tensor);
        if (!m) throw new ScoringError(`${what}: no input moments were collected for it`);
        hooks.onMoments?.(m);
        const fit = await refitInto(store, w, m, c.keep, reconstruct!, what, { matmul: products!.matmul, log: h.log });
        kept = fit.weight;
        bias = fit.bias;
      } else if (compensate) {
        const mean = tapValues(stats, { layer: c.layer, tensor, reduction: 'sum' }, 'compensation').map((v) => v / stats.tokens);
        bias = compensationBias(w.data instanceof Float32Array ? w.data : Float32Array.from(w.data), [w.inFeatures, w.outFeatures], 1, c.removed, mean);
      }
      return projectionPatch(loaded.model.graph?.initializer ?? [], c.linear, w, c.keep, kept, bias, what);
    };
    const scoreLayer = async (stats: Statistics, layer: (typeof spec.layers)[number]) => {
      const scored = await criterion.score(stats, weights, { ...spec, layers: [layer] }, options);
      const ls = scored.layers.find((x) => x.layer === layer.index);
      if (!ls) throw new ScoringError(`criterion "${criterion.name}" gave no scores for layer ${layer.index}`);
      const allocated = allocationOf(req.plan, layer.index);
      return reselectLayer(ls, req.plan.model, layer.index, { kvHeads: allocated.keepKvHeads.length, channels: allocated.keepChannels.length });
    };
    const cutsOf = (lp: LayerPlan) => removedProjectionInputs(spec, { ...req.plan, layers: [lp] });
    /** The allocated number of `kind` groups of a layer, those whose removal the refit loses least to (select: 'reconstruction'). */
    const keptByFit = async (lp: LayerPlan, kind: 'heads' | 'channels', moments: ProjectionMoments[]): Promise<LayerPlan> => {
      const layer = spec.layers[lp.layer]!;
      const count = kind === 'heads' ? layer.numKvHeads : layer.intermediateSize;
      const keep = kind === 'heads' ? lp.keepKvHeads.length : lp.keepChannels.length;
      if (keep === count || !(req.selectKinds ?? ['heads', 'channels']).includes(kind)) return lp;
      const tensor = kind === 'heads' ? 'attnContext' : 'ffnAct';
      const m = moments.find((x) => x.layer === lp.layer && x.tensor === tensor);
      if (!m) throw new ScoringError(`layer ${lp.layer}: no ${tensor} moments to choose its ${kind} by`);
      const role = kind === 'heads' ? 'o' : 'down';
      const groups = range(count).map((g) => groupOf(spec, lp.layer, kind, g).slices.find((s) => s.role === role)!.indices);
      const w = await weights.linear(kind === 'heads' ? layer.o : layer.down);
      h.log(`layer ${lp.layer} ${role}_proj: choosing ${count - keep} of ${count} ${kind === 'heads' ? 'KV groups' : 'channels'} to remove by refit loss`);
      const order = removalOrder(w, m.train, groups, count - keep, req.selectAlpha ?? DEFAULTS.reconstruction.selectAlpha, `layer ${lp.layer} ${role}_proj`);
      // removed first = lowest score; every kept group above them
      const rank = new Array<number>(count).fill(count);
      order.removed.forEach((g, i) => (rank[g] = i));
      // reselectLayer on these ranks (the other kind left whole there; only this kind's choice is taken)
      const chosen =
        kind === 'heads'
          ? reselectLayer({ layer: lp.layer, heads: rank, channels: null }, req.plan.model, lp.layer, { kvHeads: keep, channels: layer.intermediateSize })
          : reselectLayer({ layer: lp.layer, heads: null, channels: rank }, req.plan.model, lp.layer, { kvHeads: layer.numKvHeads, channels: keep });
      return kind === 'heads' ? { ...lp, keepHeads: chosen.keepHeads, keepKvHeads: chosen.keepKvHeads } : { ...lp, keepChannels: chosen.keepChannels };
    };

    for (const layer of spec.layers) {
      const l = layer.index;
      const seg = segs[l + 1]!;
      // a segment's first carried input is the hidden state entering its block (partition.ts)
      hooks.onBlockInput?.(l, carried.map((c) => c[seg.carriedIn[0]!]!));
      const momentsOf = (tensor: 'attnContext' | 'ffnAct') => probe.moments.filter((m) => m.layer === l && m.tensor === tensor);

      // (a) the dense block: every tap; o_proj's input moments (and down_proj's, when the attention stays whole)
      const dense = await runBlock(seg, [], () => true, [...momentsOf('attnContext'), ...(attnCut[l] ? [] : momentsOf('ffnAct'))]);
      let first = await scoreLayer(dense.statistics, layer);
      if (selectByFit) first = await keptByFit(first, 'heads', dense.moments);
      const attnPatches: ProjectionPatch[] = [];
      for (const c of cutsOf(first)) if (c.block === 'attention') attnPatches.push(await patchFor(c, dense.statistics, dense.moments));

      // (b) with the attention pruned (and refit): the FFN sees what it will see in the pruned model, so its
      // taps, the channel choice and down_proj's moments come from this run; the heads stay (a)'s choice
      let stats = dense.statistics;
      let ffnMoments = dense.moments;
      let lp = first;
      if (attnPatches.length > 0) {
        const ffnRun = await runBlock(seg, attnPatches, (t) => FFN_SIDE.has(t.tensor), momentsOf('ffnAct'));
        stats = { ...dense.statistics, taps: { ...dense.statistics.taps, ...ffnRun.statistics.taps } };
        ffnMoments = ffnRun.moments;
        lp = { ...first, keepChannels: (await scoreLayer(stats, layer)).keepChannels };
      }
      if (selectByFit) lp = await keptByFit(lp, 'channels', ffnMoments);
      layers.push(lp);
      parts.push(stats);
      const ffnPatches: ProjectionPatch[] = [];
      for (const c of cutsOf(lp)) if (c.block === 'ffn') ffnPatches.push(await patchFor(c, stats, ffnMoments));

      // (c) the pruned block, for its output
      const patches = [...attnPatches, ...ffnPatches];
      if (patches.length === 0 || seg.carriedOut.length === 0) {
        // nothing changed, or the last block: no later block reads what the pruned one would hand on
        carried = keepFor(l + 1, carried, dense.carried);
        passed += rows.length;
      } else {
        const pruned = await runBlock(seg, patches, () => false, []);
        carried = keepFor(l + 1, carried, pruned.carried);
      }
      bar.update(passed);
    }
    bar.finish();
    const statistics = mergeStatistics(parts);
    const plan: PruningPlan = {
      ...req.plan,
      layers,
      createdAt: new Date().toISOString(),
      notes: {
        ...req.plan.notes,
        sequential: {
          allocation: 'the one-shot plan (global scores on the dense model)',
          selection: `each block rescored${other ? ` by ${criterion.name}` : ''} on the pruned blocks' outputs; its FFN with its attention pruned`,
          ...(other ? { selectCriterion: criterion.name } : {}),
        },
      },
    };
    return { plan, statistics, ...(store ? { reconstruction: store } : {}) };
  } catch (e) {
    store?.dispose();
    throw e;
  } finally {
    await products?.close();
  }
}

/** Taps of the FFN half of a block (and its output): measured with the block's attention already pruned. */
const FFN_SIDE: ReadonlySet<TapTensor> = new Set(['gateOut', 'upOut', 'ffnAct', 'output']);

function allocationOf(plan: PruningPlan, layer: number): LayerPlan {
  const lp = plan.layers.find((x) => x.layer === layer);
  if (!lp) throw new ScoringError(`the allocation plan has no layer ${layer}`);
  return lp;
}

/**
 * Refuse, before any long step, a model that cannot run one block at a time (the block analysis on a
 * copy of the graph: no weight is read).
 */
export function checkSequential(model: ModelInput): void {
  try {
    new ProbeBlocks(cloneModel(model.loaded.model), model.spec);
  } catch (e) {
    throw sequentialRefusal(e);
  }
}

function sequentialRefusal(e: unknown): unknown {
  if (!(e instanceof ScoringError)) return e;
  return new ScoringError(`--sequential runs the model one block at a time, and ${e.message.replace(/; score it whole.*$/, '')}: prune it without --sequential`);
}

/**
 * The patch that makes the dense projection compute the pruned one: its weight with the removed input
 * rows zero and the kept rows `kept` ([keep.length][out], when refit; else the dense rows), stored as
 * the original (type, [in, out] or [out, in]); the bias, when there is one, of the same type.
 */
function projectionPatch(
  initializers: readonly TensorProto[],
  linear: { node: string; weight: string; outAxis: 0 | 1; columns?: unknown },
  w: LinearWeight,
  keep: readonly number[],
  kept: ArrayLike<number> | undefined,
  bias: Float64Array | undefined,
  what: string,
): ProjectionPatch {
  const original = initializers.find((t) => t.name === linear.weight);
  if (!original) throw new ScoringError(`${what}: weight "${linear.weight}" is not an initializer`);
  const dt = original.dataType ?? 1;
  // float, float16, double, bfloat16: a quantised weight cannot hold the zeroed rows as they are stored
  if (![1, 10, 11, 16].includes(dt)) throw new ScoringError(`${what}: --sequential needs float weights; "${linear.weight}" is stored as ONNX type ${dt}`);
  if (linear.columns) throw new ScoringError(`${what}: --sequential cannot patch a fused projection ("${linear.weight}")`);
  const I = w.inFeatures;
  const O = w.outFeatures;
  const eff = new Float32Array(I * O); // [in][out], removed rows zero
  keep.forEach((row, a) => {
    for (let o = 0; o < O; o++) eff[row * O + o] = kept ? kept[a * O + o]! : w.data[row * O + o]!;
  });
  let stored = eff;
  if (linear.outAxis === 0) {
    stored = new Float32Array(I * O);
    for (let i = 0; i < I; i++) for (let o = 0; o < O; o++) stored[o * I + i] = eff[i * O + o]!;
  }
  return {
    node: linear.node,
    weight: { name: linear.weight, dataType: dt, dims: tensorDims(original), rawData: encodeFloats(stored, dt) },
    ...(bias ? { bias: { name: `${linear.weight}/llm_bip_sequential_bias`, dataType: dt, dims: [O], rawData: encodeFloats(bias, dt) } } : {}),
  };
}

/** One Statistics of every segment's taps (each block's taps come from its own run). */
function mergeStatistics(parts: Statistics[]): Statistics {
  const first = parts[0]!;
  const taps: Record<string, number[]> = {};
  for (const p of parts) Object.assign(taps, p.taps);
  const ep = parts.find((p) => p.executionProvider)?.executionProvider;
  return { ...first, taps, ...(ep ? { executionProvider: ep } : {}) };
}
