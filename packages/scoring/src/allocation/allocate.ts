/**
 * Allocation: GroupScores + a target ratio -> which groups to remove -> PruningPlan.
 *
 * ratio = fraction of attention + MLP parameters removed (norms and embeddings do not count).
 * A head group (a query head under MHA; a KV head with its query heads under GQA) owns
 * hidden*headDim*(2*rep + 2) parameters (q and o for its rep query heads, k and v); a channel owns
 * 3*hidden (gate, up, down): groupsOf's counts (@llm-bip/model groups.ts) for the plan's model shape. Rounding is round-half-to-even (Python's round), so counts match the
 * PyTorch prototype.
 *
 * Modes
 *   uniform      every pruned layer removes round(r * groups) head groups and round(r * channels)
 *                channels, its lowest scores; r = ratio * layers / prunedLayers when layers are skipped.
 *   global-kind  head groups of all pruned layers ranked together by score / mean_t||y_t|| of their
 *                layer; the round(ratio * all head groups) lowest go; channels likewise.
 *   global       every group of every pruned layer and kind in one ranking by
 *                score / mean_t||y_t|| / parameters; the lowest go, as many as brings the removed
 *                parameters closest to ratio * (attention + MLP).
 *   al-am        FLAP: heads and channels in one ranking by score (the flap criterion standardises per
 *                layer, so no block-norm division); the prefix whose parameters come closest to
 *                ratio * total goes, plus the next unit (FLAP keeps only scores strictly above its
 *                threshold unit, so that unit goes too).
 * When a criterion scores only one kind (llm-bip headTerm 'none'), that kind takes the whole ratio:
 * its fraction is ratio * (attention + MLP) / (its parameters).
 * Options: skipFirst / skipLast layers (kept whole, like LLM-Pruner's 4..29), minKeep (each pruned
 * layer keeps at least this many head groups and channels, default 1: surgery can empty a block, but
 * a model with an emptied block cannot be recognised and pruned again; the next-lowest group elsewhere
 * goes instead; minKeep 0 allows emptying).
 * headRatio h (uniform, global-kind): remove the fraction h of the head groups and as many channels as
 * brings the total to ratio (the kinds' split is otherwise ratio for each; measured in BENCHMARKS.md).
 * align N (default 1: off): afterwards every pruned layer keeps a multiple of N FFN channels (see
 * align.ts); head groups are already whole KV groups.
 */
import { groupParameters, planGroupSource, type PruningPlan } from '@llm-bip/model';
import { AllocationError } from '../errors.js';
import type { GroupScores, PlanModelShape } from '../types.js';
import { alignChannels } from './align.js';

export const ALLOCATIONS = ['uniform', 'global-kind', 'global', 'al-am'] as const;
export type AllocationMode = (typeof ALLOCATIONS)[number];

export interface AllocationOptions {
  ratio: number;
  allocation: AllocationMode;
  skipFirst?: number;
  skipLast?: number;
  minKeep?: number;
  /** kept FFN channels per pruned layer rounded to a multiple of this (1: no rounding) */
  align?: number;
  /**
   * uniform and global-kind: the fraction of head groups to remove instead of `ratio`; the FFN channels
   * then take whatever brings the removed parameters to `ratio` of attention + MLP (default: ratio for both)
   */
  headRatio?: number;
}

export interface PlanOptions extends AllocationOptions {
  calibration?: PruningPlan['calibration'];
  seed?: number;
  notes?: Record<string, unknown>;
  /** default: now */
  createdAt?: string;
}

interface Unit {
  layer: number;
  kind: 'head' | 'channel';
  index: number;
  score: number;
  params: number;
}

/** Python's round(): half to even. */
export function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const diff = x - f;
  if (diff > 0.5) return f + 1;
  if (diff < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** Parameters one head group of `layer` owns (groupsOf in @llm-bip/model, from the plan's model shape). */
export function headGroupParams(model: PlanModelShape, layer: number): number {
  return groupParameters(planGroupSource(model), layer, 1, 0).attention;
}

/** Parameters one FFN channel of `layer` owns. */
export function channelParams(model: PlanModelShape, layer = 0): number {
  return groupParameters(planGroupSource(model), layer, 0, 1).mlp;
}

/** headGroupParams and channelParams of every layer, computed once. */
export function unitParams(model: PlanModelShape): Array<{ head: number; channel: number }> {
  const source = planGroupSource(model);
  return source.layers.map((_, l) => {
    const p = groupParameters(source, l, 1, 1);
    return { head: p.attention, channel: p.mlp };
  });
}

/** Removed group indices per layer. */
export interface Removal {
  heads: Set<number>[];
  channels: Set<number>[];
}

export function allocate(scores: GroupScores, model: PlanModelShape, opts: AllocationOptions): Removal {
  const { ratio } = opts;
  if (!(ratio >= 0 && ratio < 1)) throw new AllocationError(`ratio must be in [0, 1), got ${ratio}`);
  if (opts.align !== undefined && !(Number.isInteger(opts.align) && opts.align >= 1)) throw new AllocationError(`align must be a whole number >= 1, got ${opts.align}`);
  if (!ALLOCATIONS.includes(opts.allocation)) throw new AllocationError(`unknown allocation "${opts.allocation}": choose one of ${ALLOCATIONS.join(', ')}`);
  const L = model.numLayers;
  if (scores.layers.length !== L) throw new AllocationError(`scores have ${scores.layers.length} layers, the model has ${L}: the scores were made for another model`);
  const skipFirst = opts.skipFirst ?? 0;
  const skipLast = opts.skipLast ?? 0;
  const pruned = Array.from({ length: L }, (_, l) => l >= skipFirst && l < L - skipLast);
  const nPruned = pruned.filter(Boolean).length;
  if (nPruned === 0 && ratio > 0) throw new AllocationError(`skipping ${skipFirst} first and ${skipLast} last layers leaves none of ${L} to prune`);
  const minKeep = opts.minKeep ?? 1;

  const units: Unit[] = [];
  let headParams = 0;
  let channelParamsTotal = 0;
  let headsScored = false;
  let channelsScored = false;
  const params = unitParams(model);
  for (let l = 0; l < L; l++) {
    const ls = scores.layers[l]!;
    headParams += params[l]!.head * model.numKvHeads[l]!;
    channelParamsTotal += params[l]!.channel * model.intermediateSize[l]!;
    if (ls.heads) {
      if (ls.heads.length !== model.numKvHeads[l]) throw new AllocationError(`layer ${l}: ${ls.heads.length} head scores for ${model.numKvHeads[l]} head groups`);
      headsScored = true;
      ls.heads.forEach((score, index) => units.push({ layer: l, kind: 'head', index, score, params: params[l]!.head }));
    }
    if (ls.channels) {
      if (ls.channels.length !== model.intermediateSize[l]) throw new AllocationError(`layer ${l}: ${ls.channels.length} channel scores for ${model.intermediateSize[l]} channels`);
      channelsScored = true;
      ls.channels.forEach((score, index) => units.push({ layer: l, kind: 'channel', index, score, params: params[l]!.channel }));
    }
  }
  const total = headParams + channelParamsTotal;
  // fraction of each kind's own parameters to remove
  const headRatio = opts.headRatio;
  if (headRatio !== undefined) {
    if (!(headRatio >= 0 && headRatio < 1)) throw new AllocationError(`head ratio must be in [0, 1), got ${headRatio}`);
    if (opts.allocation !== 'uniform' && opts.allocation !== 'global-kind') throw new AllocationError(`a head ratio applies to the uniform and global-kind allocations, not "${opts.allocation}" (which ranks heads and channels together): drop it or choose one of those`);
    if (!(headsScored && channelsScored)) throw new AllocationError(`a head ratio needs scores for both heads and channels; these scores have only ${headsScored ? 'heads' : 'channels'}: drop the head ratio`);
  }
  const kindFraction = (kind: 'head' | 'channel'): number => {
    if (headRatio !== undefined) {
      if (kind === 'head') return headRatio;
      const f = (ratio * total - headRatio * headParams) / channelParamsTotal;
      if (!(f >= 0 && f < 1)) {
        const above = Math.max(0, (ratio * total - channelParamsTotal) / headParams);
        const atMost = (ratio * total) / headParams;
        throw new AllocationError(`removing ${headRatio} of the head groups leaves ${(f * 100).toFixed(1)}% of the FFN channels to remove for a ratio of ${ratio}: choose a head ratio above ${above.toFixed(3)}${atMost < 1 ? ` and at most ${atMost.toFixed(3)}` : ''}`);
      }
      return f;
    }
    if (headsScored && channelsScored) return ratio;
    const own = kind === 'head' ? headParams : channelParamsTotal;
    const f = (ratio * total) / own;
    if (f >= 1) throw new AllocationError(`only ${kind}s are scored, and removing ${ratio} of all parameters would take ${(f * 100).toFixed(1)}% of them: use a smaller ratio`);
    return f;
  };

  const removal: Removal = { heads: Array.from({ length: L }, () => new Set()), channels: Array.from({ length: L }, () => new Set()) };
  const counts = { head: new Array<number>(L).fill(0), channel: new Array<number>(L).fill(0) };
  const sizeOf = (u: Unit) => (u.kind === 'head' ? model.numKvHeads[u.layer]! : model.intermediateSize[u.layer]!);
  const canRemove = (u: Unit) => pruned[u.layer]! && counts[u.kind][u.layer]! < sizeOf(u) - minKeep;
  const remove = (u: Unit) => {
    counts[u.kind][u.layer]!++;
    (u.kind === 'head' ? removal.heads : removal.channels)[u.layer]!.add(u.index);
  };
  const relative = (u: Unit): number => {
    const norm = scores.layers[u.layer]!.blockOutputNorm;
    if (norm === undefined || !(norm > 0)) {
      throw new AllocationError(
        `allocation "${opts.allocation}" compares layers by their mean block output norm, which layer ${u.layer}'s scores lack (scored without calibration): score with calibration text, or use --allocation uniform or al-am`,
      );
    }
    return u.score / norm;
  };
  // ascending by key, ties by layer, kind, index (stable and reproducible)
  const ascending = (key: (u: Unit) => number) => (a: Unit, b: Unit) =>
    key(a) - key(b) || a.layer - b.layer || (a.kind === b.kind ? 0 : a.kind === 'head' ? -1 : 1) || a.index - b.index;

  if (ratio === 0) return removal;

  if (opts.allocation === 'uniform') {
    for (const kind of ['head', 'channel'] as const) {
      if (!(kind === 'head' ? headsScored : channelsScored)) continue;
      const r = (kindFraction(kind) * L) / nPruned;
      if (r >= 1) throw new AllocationError(`uniform ratio ${ratio} over ${nPruned} pruned layers would remove every ${kind}: use a smaller ratio or skip fewer layers`);
      for (let l = 0; l < L; l++) {
        if (!pruned[l]) continue;
        const layerUnits = units.filter((u) => u.layer === l && u.kind === kind).sort(ascending((u) => u.score));
        const want = Math.min(roundHalfEven(r * layerUnits.length), layerUnits.length - minKeep);
        layerUnits.slice(0, Math.max(0, want)).forEach(remove);
      }
    }
  } else if (opts.allocation === 'global-kind') {
    for (const kind of ['head', 'channel'] as const) {
      if (!(kind === 'head' ? headsScored : channelsScored)) continue;
      const all = units.filter((u) => u.kind === kind);
      let want = roundHalfEven(kindFraction(kind) * all.length);
      for (const u of all.sort(ascending(relative))) {
        if (want === 0) break;
        if (canRemove(u)) {
          remove(u);
          want--;
        }
      }
    }
  } else {
    // global and al-am: one ascending ranking; remove the prefix whose parameters come closest to the target
    const key = opts.allocation === 'global' ? (u: Unit) => relative(u) / u.params : (u: Unit) => u.score;
    const ranked = units.sort(ascending(key));
    const target = ratio * total;
    const order: Unit[] = [];
    const cum = [0];
    for (const u of ranked) {
      if (cum[cum.length - 1]! >= target) break;
      if (!canRemove(u)) continue;
      counts[u.kind][u.layer]!++;
      order.push(u);
      cum.push(cum[cum.length - 1]! + u.params);
    }
    let best = 0;
    for (let k = 1; k < cum.length; k++) if (Math.abs(cum[k]! - target) < Math.abs(cum[best]! - target)) best = k;
    // FLAP keeps only scores strictly above the threshold unit, so the threshold unit goes too
    if (opts.allocation === 'al-am' && best < order.length) best++;
    counts.head.fill(0);
    counts.channel.fill(0);
    order.slice(0, best).forEach(remove);
  }
  const align = opts.align ?? 1;
  if (align > 1 && channelsScored) {
    const removedParams = removal.channels.reduce((sum, set, l) => sum + set.size * params[l]!.channel, 0);
    alignChannels(removal, { scores, model, align, pruned, minKeep, params, target: removedParams, key: channelKey(scores) });
  }
  return removal;
}

/** How channels of different layers compare when alignment moves whole blocks between layers. */
function channelKey(scores: GroupScores): (layer: number, score: number) => number {
  const normed = scores.layers.every((l) => l.blockOutputNorm !== undefined && l.blockOutputNorm > 0);
  return normed ? (layer, score) => score / scores.layers[layer]!.blockOutputNorm! : (_layer, score) => score;
}
