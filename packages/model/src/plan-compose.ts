/**
 * Composing plans: a model pruned by `first` and then by `second` (a plan made for the pruned model) is
 * the original model pruned by one plan. Iterative pruning (the pipeline's rounds) records that plan,
 * so plan.json always speaks of the model the user gave.
 */
import { PlanMismatchError, type LayerPlan, type PruningPlan } from './plan.js';

/**
 * The plan against `first`'s model that keeps what applying `first`, then `second`, keeps: per layer
 * kept[j] = first.kept[second.kept[j]] for heads, KV heads and channels (original indices, ascending).
 * `second` must be made for the model `first` produces: the same layers, its model shape equal to
 * `first`'s kept counts, its indices within them; else PlanMismatchError names the layer and the index.
 * The result's `model` and `headGranularity` are `first`'s; every other field (criterion, ratio,
 * allocation, calibration, seed, notes) is `second`'s: a caller that composes rounds sets the overall
 * ratio and notes itself.
 */
export function composePlans(first: PruningPlan, second: PruningPlan): PruningPlan {
  const fail = (msg: string): never => {
    throw new PlanMismatchError(`cannot compose the plans: ${msg}. The second plan must be made for the model the first one produces (llm-bip plan on the pruned model).`);
  };
  if (second.layers.length !== first.layers.length) fail(`the first plan has ${first.layers.length} layers, the second ${second.layers.length}`);
  if (second.model.numLayers !== first.layers.length) fail(`the second plan was made for a model of ${second.model.numLayers} layers, the first plan keeps ${first.layers.length}`);
  const layers = first.layers.map((a): LayerPlan => {
    const b = second.layers.find((x) => x.layer === a.layer) ?? fail(`the second plan has no layer ${a.layer}`);
    const pick = (kept: number[], idx: number[], what: 'keepHeads' | 'keepKvHeads' | 'keepChannels', shape: number | undefined): number[] => {
      if (shape !== kept.length) fail(`layer ${a.layer}: the second plan was made for ${String(shape)} ${unit[what]}, the first keeps ${kept.length}`);
      return idx.map((j, p) => (Number.isInteger(j) && j >= 0 && j < kept.length ? kept[j]! : fail(`layer ${a.layer}: second ${what}[${p}] = ${j} is outside 0..${kept.length - 1}`)));
    };
    return {
      layer: a.layer,
      keepHeads: pick(a.keepHeads, b.keepHeads, 'keepHeads', second.model.numHeads[a.layer]),
      keepKvHeads: pick(a.keepKvHeads, b.keepKvHeads, 'keepKvHeads', second.model.numKvHeads[a.layer]),
      keepChannels: pick(a.keepChannels, b.keepChannels, 'keepChannels', second.model.intermediateSize[a.layer]),
    };
  });
  return { ...second, model: first.model, headGranularity: first.headGranularity, layers };
}

const unit = { keepHeads: 'heads', keepKvHeads: 'KV heads', keepChannels: 'channels' } as const;
