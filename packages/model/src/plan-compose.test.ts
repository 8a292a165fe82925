/** composePlans: two rounds of pruning as one plan against the original model. */
import { describe, expect, it } from 'vitest';
import { composePlans } from './plan-compose.js';
import { PLAN_FORMAT, PlanMismatchError, validatePlan, type LayerPlan, type PruningPlan } from './plan.js';
import type { ModelSpec } from './spec.js';

/** A plan for a model of these per-layer shapes (fields other than the shape and the layers are fixed). */
function planFor(shape: Array<{ heads: number; kv: number; channels: number }>, layers: Array<Omit<LayerPlan, 'layer'>>, criterion = 'c'): PruningPlan {
  return {
    format: PLAN_FORMAT,
    model: {
      fingerprint: `fp-${criterion}`,
      numLayers: shape.length,
      hiddenSize: 8,
      numHeads: shape.map((s) => s.heads),
      numKvHeads: shape.map((s) => s.kv),
      headDim: shape.map(() => 2),
      intermediateSize: shape.map((s) => s.channels),
    },
    criterion,
    ratio: 0.25,
    allocation: 'global-kind',
    headGranularity: shape.some((s) => s.kv !== s.heads) ? 'kv-group' : 'head',
    layers: layers.map((l, layer) => ({ layer, ...l })),
  };
}

const specOf = (p: PruningPlan) =>
  ({
    numLayers: p.model.numLayers,
    hiddenSize: p.model.hiddenSize,
    layers: p.model.numHeads.map((h, index) => ({ index, numHeads: h, numKvHeads: p.model.numKvHeads[index], headDim: 2, intermediateSize: p.model.intermediateSize[index] })),
  }) as unknown as ModelSpec;

describe('composePlans', () => {
  it('MHA: the original indices of what both rounds keep', () => {
    const first = planFor(
      [{ heads: 4, kv: 4, channels: 6 }, { heads: 4, kv: 4, channels: 6 }],
      [
        { keepHeads: [0, 2, 3], keepKvHeads: [0, 2, 3], keepChannels: [1, 2, 4, 5] },
        { keepHeads: [1, 2, 3], keepKvHeads: [1, 2, 3], keepChannels: [0, 1, 2, 3, 5] },
      ],
      'first',
    );
    const second = planFor(
      [{ heads: 3, kv: 3, channels: 4 }, { heads: 3, kv: 3, channels: 5 }],
      [
        { keepHeads: [1, 2], keepKvHeads: [1, 2], keepChannels: [0, 3] },
        { keepHeads: [0, 2], keepKvHeads: [0, 2], keepChannels: [1, 2, 4] },
      ],
      'second',
    );
    const c = composePlans(first, second);
    expect(c.layers).toEqual([
      { layer: 0, keepHeads: [2, 3], keepKvHeads: [2, 3], keepChannels: [1, 5] },
      { layer: 1, keepHeads: [1, 3], keepKvHeads: [1, 3], keepChannels: [1, 2, 5] },
    ]);
    expect(c.model).toEqual(first.model);
    expect(c.criterion).toBe('second');
    validatePlan(c, specOf(first));
  });

  it('GQA: whole KV groups stay whole, their query heads follow', () => {
    // 8 query heads in 4 groups of 2; the first round drops group 1, the second the (new) group 0
    const first = planFor([{ heads: 8, kv: 4, channels: 4 }], [{ keepHeads: [0, 1, 4, 5, 6, 7], keepKvHeads: [0, 2, 3], keepChannels: [0, 1, 3] }]);
    const second = planFor([{ heads: 6, kv: 3, channels: 3 }], [{ keepHeads: [2, 3, 4, 5], keepKvHeads: [1, 2], keepChannels: [2] }]);
    const c = composePlans(first, second);
    expect(c.layers).toEqual([{ layer: 0, keepHeads: [4, 5, 6, 7], keepKvHeads: [2, 3], keepChannels: [3] }]);
    expect(c.headGranularity).toBe('kv-group');
    validatePlan(c, specOf(first));
  });

  it('refuses a second plan of another layer count, another shape or an index out of range', () => {
    const first = planFor([{ heads: 2, kv: 2, channels: 4 }, { heads: 2, kv: 2, channels: 4 }], [
      { keepHeads: [0, 1], keepKvHeads: [0, 1], keepChannels: [0, 2] },
      { keepHeads: [1], keepKvHeads: [1], keepChannels: [0, 1, 3] },
    ]);
    const one = planFor([{ heads: 2, kv: 2, channels: 2 }], [{ keepHeads: [0], keepKvHeads: [0], keepChannels: [1] }]);
    expect(() => composePlans(first, one)).toThrow(PlanMismatchError);
    expect(() => composePlans(first, one)).toThrow(/the first plan has 2 layers, the second 1/);
    const shape = [{ heads: 2, kv: 2, channels: 2 }, { heads: 1, kv: 1, channels: 3 }];
    const ok = planFor(shape, [
      { keepHeads: [1], keepKvHeads: [1], keepChannels: [0] },
      { keepHeads: [0], keepKvHeads: [0], keepChannels: [2] },
    ]);
    expect(composePlans(first, ok).layers[1]).toEqual({ layer: 1, keepHeads: [1], keepKvHeads: [1], keepChannels: [3] });
    const outOfRange = planFor(shape, [
      { keepHeads: [1], keepKvHeads: [1], keepChannels: [0] },
      { keepHeads: [0], keepKvHeads: [0], keepChannels: [1, 3] },
    ]);
    expect(() => composePlans(first, outOfRange)).toThrow(/layer 1: second keepChannels\[1\] = 3 is outside 0..2/);
    const wrongShape = planFor([{ heads: 2, kv: 2, channels: 4 }, { heads: 1, kv: 1, channels: 3 }], ok.layers);
    expect(() => composePlans(first, wrongShape)).toThrow(/layer 0: the second plan was made for 4 channels, the first keeps 2/);
  });
});
