import { describe, expect, it } from 'vitest';
import { allocate, ALLOCATIONS, unitParams, type AllocationMode } from './allocate.js';
import { removedFraction } from './plan.js';
import type { GroupScores, PlanModelShape } from '../types.js';
import { seededRng } from '../rng.js';
import { AllocationError } from '../errors.js';

/** 6 layers, widths that are not multiples of the alignment (1000, 1013, ...), GQA 8 heads / 4 groups. */
function model(): PlanModelShape {
  const widths = [1000, 1013, 990, 1024, 1001, 999];
  return {
    fingerprint: 'test',
    numLayers: widths.length,
    hiddenSize: 256,
    numHeads: widths.map(() => 8),
    numKvHeads: widths.map(() => 4),
    headDim: widths.map(() => 32),
    intermediateSize: widths,
  };
}

function scores(m: PlanModelShape, seed: number): GroupScores {
  const r = seededRng(seed);
  return {
    criterion: 'test',
    headGranularity: 'kv-group',
    layers: m.intermediateSize.map((w, l) => ({
      layer: l,
      heads: Array.from({ length: m.numKvHeads[l]! }, () => r.next()),
      // layers differ in scale, so the allocation's per-layer counts differ
      channels: Array.from({ length: w }, () => r.next() * (1 + l)),
      blockOutputNorm: 2 + l,
    })),
  };
}

const cases: Array<[AllocationMode, number, number]> = ALLOCATIONS.flatMap((a) => [[a, 0.2, 64], [a, 0.5, 64], [a, 0.5, 128], [a, 0.2, 8]] as Array<[AllocationMode, number, number]>);

describe('--align: every pruned layer keeps a multiple of N channels', () => {
  it.each(cases)('%s at %s, N = %s', (allocation, ratio, n) => {
    const m = model();
    const s = scores(m, 7);
    const plain = allocate(s, m, { ratio, allocation });
    const aligned = allocate(s, m, { ratio, allocation, align: n });
    const channelParams = unitParams(m).map((p) => p.channel);
    for (let l = 0; l < m.numLayers; l++) {
      const width = m.intermediateSize[l]!;
      const kept = width - aligned.channels[l]!.size;
      expect(kept === width || kept % n === 0, `layer ${l} keeps ${kept} of ${width}`).toBe(true);
      expect(kept).toBeGreaterThanOrEqual(n);
      // within a layer the lowest scores go
      const removedMax = Math.max(...[...aligned.channels[l]!].map((i) => s.layers[l]!.channels![i]!));
      const keptMin = Math.min(...s.layers[l]!.channels!.filter((_, i) => !aligned.channels[l]!.has(i)));
      if (aligned.channels[l]!.size) expect(removedMax).toBeLessThanOrEqual(keptMin);
      // heads are not touched by alignment
      expect([...aligned.heads[l]!]).toEqual([...plain.heads[l]!]);
    }
    // the removed channel parameters stay within half a block of what the allocation removed
    const removed = (r: typeof plain) => r.channels.reduce((sum, set, l) => sum + set.size * channelParams[l]!, 0);
    expect(Math.abs(removed(aligned) - removed(plain))).toBeLessThanOrEqual((n / 2) * Math.max(...channelParams));
    expect(Math.abs(removedFraction(aligned, m) - removedFraction(plain, m))).toBeLessThan(0.02);
  });

  it('align 1 changes nothing', () => {
    const m = model();
    const s = scores(m, 3);
    for (const allocation of ALLOCATIONS) {
      const plain = allocate(s, m, { ratio: 0.3, allocation });
      const one = allocate(s, m, { ratio: 0.3, allocation, align: 1 });
      expect(one.channels.map((c) => [...c].sort((a, b) => a - b))).toEqual(plain.channels.map((c) => [...c].sort((a, b) => a - b)));
    }
  });

  it('leaves skipped layers whole and honours minKeep', () => {
    const m = model();
    const s = scores(m, 5);
    const r = allocate(s, m, { ratio: 0.5, allocation: 'global-kind', align: 64, skipFirst: 1, skipLast: 1, minKeep: 200 });
    expect(r.channels[0]!.size).toBe(0);
    expect(r.channels[5]!.size).toBe(0);
    for (let l = 1; l < 5; l++) {
      const kept = m.intermediateSize[l]! - r.channels[l]!.size;
      expect(kept).toBeGreaterThanOrEqual(256); // minKeep 200 rounded up to a multiple of 64
      expect(kept === m.intermediateSize[l] || kept % 64 === 0).toBe(true);
    }
  });

  it('refuses an alignment that is not a whole number >= 1', () => {
    const m = model();
    for (const align of [0, -8, 2.5, Number.NaN]) {
      expect(() => allocate(scores(m, 1), m, { ratio: 0.2, allocation: 'uniform', align })).toThrow(AllocationError);
    }
  });
});
