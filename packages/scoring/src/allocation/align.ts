/**
 * Hardware-aligned FFN widths: after an allocation, every pruned layer keeps a multiple of N channels.
 *
 * Matrix kernels (CPU GEMM micro-kernels, GPU tiles) run whole tiles; a width of 1,013 costs about what
 * 1,024 does, so odd widths give back less speed than the parameters removed suggest. Rounding each
 * layer on its own would drift from the target (all layers rounding the same way), so the blocks of N
 * are moved between layers instead:
 *   1. every pruned layer starts at its kept count rounded UP to a multiple of N (or its full width);
 *   2. "steps" of one block (the next N channels in the layer's removal order) are ranked by their mean
 *      channel key (score, divided by the layer's block output norm when scores have it), cheapest
 *      first, and a step is taken when it brings the removed parameters closer to what the allocation
 *      removed; a layer's next step joins the ranking once its previous one is taken.
 * Within a layer the lowest-key channels go, as in every allocation. The achieved ratio stays within
 * half a block of the allocation's own; a layer never keeps fewer than max(N, minKeep rounded up to N)
 * channels, and a layer narrower than that is left whole.
 */
import type { GroupScores, PlanModelShape } from '../types.js';
import type { Removal } from './allocate.js';

export interface AlignInput {
  scores: GroupScores;
  model: PlanModelShape;
  align: number;
  /** which layers the allocation may prune */
  pruned: boolean[];
  minKeep: number;
  /** parameters of one channel per layer */
  params: Array<{ channel: number }>;
  /** channel parameters the allocation removed: what the aligned removal stays closest to */
  target: number;
  key: (layer: number, score: number) => number;
}

interface Step {
  layer: number;
  /** kept count after the step */
  to: number;
  meanKey: number;
  gain: number;
}

/** Rewrites removal.channels in place so that each pruned layer keeps a multiple of `align` channels. */
export function alignChannels(removal: Removal, input: AlignInput): void {
  const { scores, model, align: n, pruned, params, target, key } = input;
  const floorKeep = Math.max(n, Math.ceil(Math.max(1, input.minKeep) / n) * n);
  const orders: number[][] = [];
  const kept: number[] = [];
  let removed = 0;
  for (let l = 0; l < model.numLayers; l++) {
    const width = model.intermediateSize[l]!;
    const channels = scores.layers[l]!.channels!;
    // the layer's removal order: lowest key first, ties by index
    orders[l] = Array.from({ length: width }, (_, i) => i).sort((a, b) => key(l, channels[a]!) - key(l, channels[b]!) || a - b);
    const current = width - removal.channels[l]!.size;
    const alignable = pruned[l]! && width >= floorKeep;
    kept[l] = alignable ? Math.min(width, Math.max(floorKeep, Math.ceil(current / n) * n)) : current;
    removed += (width - kept[l]!) * params[l]!.channel;
  }

  const stepFrom = (l: number): Step | undefined => {
    const width = model.intermediateSize[l]!;
    if (!pruned[l] || width < floorKeep) return undefined;
    const from = kept[l]!;
    const to = from === width && width % n !== 0 ? Math.floor(width / n) * n : from - n;
    if (to < floorKeep) return undefined;
    const channels = scores.layers[l]!.channels!;
    const block = orders[l]!.slice(width - from, width - to);
    const meanKey = block.reduce((s, i) => s + key(l, channels[i]!), 0) / block.length;
    return { layer: l, to, meanKey, gain: (from - to) * params[l]!.channel };
  };
  const candidates = new Map<number, Step>();
  for (let l = 0; l < model.numLayers; l++) {
    const s = stepFrom(l);
    if (s) candidates.set(l, s);
  }
  for (;;) {
    const ranked = [...candidates.values()].sort((a, b) => a.meanKey - b.meanKey || a.layer - b.layer);
    const take = ranked.find((s) => Math.abs(removed + s.gain - target) < Math.abs(removed - target));
    if (!take) break;
    kept[take.layer] = take.to;
    removed += take.gain;
    const next = stepFrom(take.layer);
    if (next) candidates.set(take.layer, next);
    else candidates.delete(take.layer);
  }

  for (let l = 0; l < model.numLayers; l++) {
    const width = model.intermediateSize[l]!;
    removal.channels[l] = new Set(orders[l]!.slice(0, width - kept[l]!));
  }
}
