/**
 * Within-layer selection for a fixed allocation: a layer keeps as many KV groups (heads) and FFN
 * channels as an allocation gave it, chosen again by new scores of that layer. Sequential pruning plans
 * this way: the global allocation (how much each layer loses) comes from the one-shot scores, the
 * choice of which groups go from the layer's scores on the already-pruned model's inputs.
 */
import { range, type LayerPlan } from '@llm-bip/model';
import type { LayerScores, PlanModelShape } from '../types.js';
import { AllocationError } from '../errors.js';

/** Keep the `kvHeads` best-scored KV groups and `channels` best-scored channels of layer `layer` (ties: the lower index). */
export function reselectLayer(scores: LayerScores, model: PlanModelShape, layer: number, counts: { kvHeads: number; channels: number }): LayerPlan {
  const numKv = model.numKvHeads[layer]!;
  const width = model.intermediateSize[layer]!;
  if (scores.layer !== layer) throw new AllocationError(`scores of layer ${scores.layer} given for layer ${layer}`);
  const best = (values: number[] | null, n: number, keep: number, what: string): number[] => {
    if (keep > n || keep < 0 || !Number.isInteger(keep)) throw new AllocationError(`layer ${layer}: cannot keep ${keep} of ${n} ${what}`);
    if (values === null) {
      // a criterion that does not score a kind never removes it (allocation keeps it whole)
      if (keep !== n) throw new AllocationError(`layer ${layer}: the criterion does not score ${what}, but the allocation removes ${n - keep} of them`);
      return range(n);
    }
    if (values.length !== n) throw new AllocationError(`layer ${layer}: ${values.length} ${what} scores for ${n} ${what}: the scores were made for another model`);
    return range(n)
      .sort((a, b) => values[b]! - values[a]! || a - b)
      .slice(0, keep)
      .sort((a, b) => a - b);
  };
  const keepKvHeads = best(scores.heads, numKv, counts.kvHeads, 'KV groups');
  const rep = model.numHeads[layer]! / numKv;
  return {
    layer,
    keepHeads: keepKvHeads.flatMap((g) => range(rep).map((r) => g * rep + r)),
    keepKvHeads,
    keepChannels: best(scores.channels, width, counts.channels, 'channels'),
  };
}
