import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fixtures } from '@llm-bip/testing';
import { validatePlan, type ModelSpec } from '@llm-bip/model';
import { allocate, roundHalfEven, headGroupParams, channelParams, unitParams } from './allocate.js';
import { makePlan, removedFraction } from './plan.js';
import type { GroupScores, PlanModelShape } from '../types.js';
import { seededRng } from '../rng.js';

interface RefLayer {
  llm_bip_head: number[];
  llm_bip_ffn: number[];
  mean_block_output_norm: number;
}
interface Ref {
  layers: RefLayer[];
  plans: Record<string, Record<string, { heads_kept: number[][]; channels_removed: number[][] }>>;
}

function shape(layers: number, heads: number, kv: number, headDim: number, inter: number, hidden: number): PlanModelShape {
  return {
    fingerprint: 'test',
    numLayers: layers,
    hiddenSize: hidden,
    numHeads: Array(layers).fill(heads),
    numKvHeads: Array(layers).fill(kv),
    headDim: Array(layers).fill(headDim),
    intermediateSize: Array(layers).fill(inter),
  };
}

/** A ModelSpec stand-in with only the fields validatePlan reads. */
function specOf(m: PlanModelShape): ModelSpec {
  return {
    numLayers: m.numLayers,
    hiddenSize: m.hiddenSize,
    layers: m.numHeads.map((h, i) => ({ index: i, numHeads: h, numKvHeads: m.numKvHeads[i]!, headDim: m.headDim[i]!, intermediateSize: m.intermediateSize[i]! })),
  } as unknown as ModelSpec;
}

function randomScores(m: PlanModelShape, seed: number): GroupScores {
  const r = seededRng(seed);
  return {
    criterion: 'test',
    headGranularity: m.numKvHeads[0] === m.numHeads[0] ? 'head' : 'kv-group',
    layers: m.numHeads.map((_, l) => ({
      layer: l,
      heads: Array.from({ length: m.numKvHeads[l]! }, () => r.next()),
      channels: Array.from({ length: m.intermediateSize[l]! }, () => r.next()),
      blockOutputNorm: 1 + l,
    })),
  };
}

describe('roundHalfEven', () => {
  it('rounds like Python round()', () => {
    expect([0.5, 1.5, 2.5, 9.6, 844.8, 140.8, 2.4999].map(roundHalfEven)).toEqual([0, 2, 2, 10, 845, 141, 2]);
  });
});

describe('allocation on the reference scores (spec by example)', () => {
  const ref = JSON.parse(readFileSync(fixtures.scoresReference, 'utf8')) as Ref;
  const model = shape(6, 8, 8, 32, 704, 256);
  const scores: GroupScores = {
    criterion: 'llm-bip',
    headGranularity: 'head',
    layers: ref.layers.map((l, i) => ({ layer: i, heads: l.llm_bip_head, channels: l.llm_bip_ffn, blockOutputNorm: l.mean_block_output_norm })),
  };
  for (const ratio of ['0.2', '0.5']) {
    for (const mode of ['global-kind', 'uniform'] as const) {
      it(`${mode} at ${ratio} keeps the reference's heads and removes its channels`, () => {
        const plan = makePlan(scores, model, { ratio: Number(ratio), allocation: mode, minKeep: 0 });
        const want = ref.plans[ratio]![`llm-bip/${mode}`]!;
        expect(plan.layers.map((l) => l.keepHeads)).toEqual(want.heads_kept);
        expect(plan.layers.map((l) => Array.from({ length: 704 }, (_, k) => k).filter((k) => !l.keepChannels.includes(k)))).toEqual(want.channels_removed);
        validatePlan(plan, specOf(model));
      });
    }
  }
});

describe('allocation counts', () => {
  const mha = shape(4, 6, 6, 8, 50, 48);
  const gqa = shape(4, 8, 2, 8, 50, 64);

  it('uniform removes round(r * n) per layer; GQA plans keep whole groups', () => {
    for (const m of [mha, gqa]) {
      const plan = makePlan(randomScores(m, 1), m, { ratio: 0.3, allocation: 'uniform' });
      for (const l of plan.layers) {
        expect(l.keepKvHeads.length).toBe(m.numKvHeads[0]! - roundHalfEven(0.3 * m.numKvHeads[0]!));
        expect(l.keepChannels.length).toBe(50 - 15);
      }
      validatePlan(plan, specOf(m));
    }
  });

  it('uniform with skipped layers keeps them whole and scales the others to the same total', () => {
    const plan = makePlan(randomScores(mha, 2), mha, { ratio: 0.2, allocation: 'uniform', skipFirst: 1, skipLast: 1 });
    expect(plan.layers[0]!.keepChannels.length).toBe(50);
    expect(plan.layers[3]!.keepHeads.length).toBe(6);
    // per pruned layer 0.2 * 4/2 = 0.4: 20 channels, round(2.4) = 2 heads
    expect(plan.layers[1]!.keepChannels.length).toBe(30);
    expect(plan.layers[2]!.keepHeads.length).toBe(4);
  });

  it('global-kind removes round(r * all groups) of each kind, lowest relative scores first', () => {
    const s = randomScores(gqa, 3);
    const r = allocate(s, gqa, { ratio: 0.25, allocation: 'global-kind' });
    const heads = r.heads.reduce((a, x) => a + x.size, 0);
    const channels = r.channels.reduce((a, x) => a + x.size, 0);
    expect(heads).toBe(roundHalfEven(0.25 * 8));
    expect(channels).toBe(roundHalfEven(0.25 * 200));
    // every removed channel's relative score is below every kept one's
    const rel = (l: number, k: number) => s.layers[l]!.channels![k]! / s.layers[l]!.blockOutputNorm!;
    const removed = r.channels.flatMap((set, l) => [...set].map((k) => rel(l, k)));
    const kept = r.channels.flatMap((set, l) => Array.from({ length: 50 }, (_, k) => k).filter((k) => !set.has(k)).map((k) => rel(l, k)));
    expect(Math.max(...removed)).toBeLessThan(Math.min(...kept));
  });

  it('global and al-am land near the target ratio (within one group of parameters)', () => {
    for (const allocation of ['global', 'al-am'] as const) {
      const r = allocate(randomScores(mha, 4), mha, { ratio: 0.35, allocation });
      const maxUnit = Math.max(headGroupParams(mha, 0), channelParams(mha));
      const total = 4 * (6 * headGroupParams(mha, 0) + 50 * channelParams(mha));
      expect(Math.abs(removedFraction(r, mha) - 0.35) * total).toBeLessThanOrEqual(maxUnit * 1.0001);
    }
  });

  it('unit costs are groupsOf counts: hidden*headDim*(2*rep + 2) per head group, 3*hidden per channel, per layer', () => {
    const m: PlanModelShape = { ...shape(2, 8, 2, 16, 40, 96), numHeads: [8, 6], numKvHeads: [2, 6] };
    expect(unitParams(m)).toEqual([
      { head: 96 * 16 * (2 * 4 + 2), channel: 3 * 96 },
      { head: 96 * 16 * (2 * 1 + 2), channel: 3 * 96 },
    ]);
    expect([headGroupParams(m, 1), channelParams(m, 1)]).toEqual([96 * 16 * 4, 3 * 96]);
  });

  it('minKeep stops a layer from losing every head', () => {
    const s = randomScores(mha, 5);
    s.layers[0]!.heads = s.layers[0]!.heads!.map(() => -1); // layer 0's heads all lowest
    const r = allocate(s, mha, { ratio: 0.3, allocation: 'global-kind' });
    expect(r.heads[0]!.size).toBe(5);
    expect(r.heads.reduce((a, x) => a + x.size, 0)).toBe(roundHalfEven(0.3 * 24));
  });

  it('a kind without scores is kept and the other takes the whole ratio', () => {
    const s = randomScores(mha, 6);
    for (const l of s.layers) l.heads = null;
    const r = allocate(s, mha, { ratio: 0.2, allocation: 'global-kind' });
    expect(r.heads.every((x) => x.size === 0)).toBe(true);
    expect(removedFraction(r, mha)).toBeCloseTo(0.2, 2);
  });

  it('a head ratio sets the heads removed and the channels take the rest of the ratio', () => {
    // mha: per layer 6 heads of 4*48*8 = 1,536 parameters, 50 channels of 144: 9,216 + 7,200 = 16,416
    const removedBy = (plan: ReturnType<typeof makePlan>) => plan.layers.map((l) => [6 - l.keepKvHeads.length, 50 - l.keepChannels.length]);
    const global = makePlan(randomScores(mha, 9), mha, { ratio: 0.5, allocation: 'global-kind', headRatio: 0.25 });
    const sum = (rows: number[][], k: number) => rows.reduce((a, r) => a + r[k]!, 0);
    expect(sum(removedBy(global), 0)).toBe(6); // round(0.25 * 24)
    // (0.5 * 65,664 - 0.25 * 36,864) / 28,800 = 0.82 of 200 channels
    expect(sum(removedBy(global), 1)).toBe(164);
    expect(global.notes).toMatchObject({ headRatio: 0.25 });
    expect(Math.abs(Number(global.notes!.achievedRatio) - 0.5) * 65_664).toBeLessThanOrEqual(144);
    // uniform: a third of the heads is 2 a layer; (32,832 - 12,288) / 28,800 = 0.713 of 50 is 36 channels a layer
    const uniform = makePlan(randomScores(mha, 9), mha, { ratio: 0.5, allocation: 'uniform', headRatio: 1 / 3 });
    expect(removedBy(uniform)).toEqual(Array(4).fill([2, 36]));
    // the head ratio equal to the ratio is the plain plan
    const s = randomScores(gqa, 10);
    expect(allocate(s, gqa, { ratio: 0.3, allocation: 'global-kind', headRatio: 0.3 })).toEqual(allocate(s, gqa, { ratio: 0.3, allocation: 'global-kind' }));
  });

  it('refuses a head ratio it cannot honour, naming the range that works', () => {
    const s = randomScores(mha, 11);
    expect(() => allocate(s, mha, { ratio: 0.5, allocation: 'global', headRatio: 0.2 })).toThrow(/uniform and global-kind/);
    expect(() => allocate(s, mha, { ratio: 0.5, allocation: 'global-kind', headRatio: 1 })).toThrow(/head ratio must be in \[0, 1\)/);
    // 0.1 of the heads would leave more than all channels to remove at ratio 0.9
    expect(() => allocate(s, mha, { ratio: 0.9, allocation: 'global-kind', headRatio: 0.1 })).toThrow(/choose a head ratio above 0\.822$/);
    // and 0.9 of them more than the whole ratio at 0.2
    expect(() => allocate(s, mha, { ratio: 0.2, allocation: 'global-kind', headRatio: 0.9 })).toThrow(/above 0\.000 and at most 0\.356/);
    const headsOnly = randomScores(mha, 12);
    for (const l of headsOnly.layers) l.channels = null;
    expect(() => allocate(headsOnly, mha, { ratio: 0.2, allocation: 'global-kind', headRatio: 0.2 })).toThrow(/only heads/);
  });

  it('refuses bad ratios and mismatched scores', () => {
    expect(() => allocate(randomScores(mha, 7), mha, { ratio: 1, allocation: 'uniform' })).toThrow(/ratio/);
    expect(() => allocate(randomScores(mha, 7), gqa, { ratio: 0.1, allocation: 'uniform' })).toThrow(/head scores/);
  });

  it('makes plans that validate and record their provenance', () => {
    const plan = makePlan(randomScores(gqa, 8), gqa, { ratio: 0.2, allocation: 'global', seed: 3, calibration: { source: 'x', samples: 2, seqLen: 4, seed: 3 } });
    validatePlan(plan, specOf(gqa));
    expect(plan).toMatchObject({ criterion: 'test', ratio: 0.2, allocation: 'global', headGranularity: 'kv-group', seed: 3 });
    expect(plan.model).toEqual(gqa);
    expect(JSON.parse(JSON.stringify(plan))).toEqual(plan);
  });
});
