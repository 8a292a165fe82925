import { describe, expect, it } from 'vitest';
import { seededRng } from './rng.js';
import { StatisticsAccumulator, compensationStats, mergeStatistics, tapValues } from './statistics.js';
import { tapKey, type Tap } from './types.js';

const taps: Tap[] = [
  { layer: 0, tensor: 'attnContext', reduction: 'sum' },
  { layer: 0, tensor: 'ffnAct', reduction: 'sum' },
  { layer: 0, tensor: 'ffnAct', reduction: 'max' },
];

describe('StatisticsAccumulator', () => {
  // per-row outputs as the probe returns them (float32 values)
  const r = seededRng(9);
  const rows = 7;
  const perRow = taps.map(() => Array.from({ length: rows }, () => Float32Array.from({ length: 3 }, () => (r.next() - 0.5) * 1e3)));

  const run = (split: number[]) => {
    const acc = new StatisticsAccumulator(taps);
    let at = 0;
    for (const n of split) {
      const out: Record<string, Float32Array> = {};
      taps.forEach((t, i) => {
        const flat = new Float32Array(n * 3);
        for (let j = 0; j < n; j++) flat.set(perRow[i]![at + j]!, j * 3);
        out[tapKey(t)] = flat;
      });
      acc.addBatch(n, 4, out);
      at += n;
    }
    return acc.result();
  };

  it('is bit-identical whatever the batch split, and sums / maxes rows exactly', () => {
    const a = run([7]);
    for (const split of [[1, 1, 1, 1, 1, 1, 1], [3, 4], [2, 2, 2, 1]]) expect(run(split)).toEqual(a);
    expect(a.tokens).toBe(28);
    let s = 0;
    for (const row of perRow[0]!) s += row[1]!;
    expect(a.taps[tapKey(taps[0]!)]![1]).toBe(s);
    expect(a.taps[tapKey(taps[2]!)]![2]).toBe(Math.max(...perRow[2]!.map((row) => row[2]!)));
  });

  it('merges data-parallel shards into the single-run statistics', () => {
    const whole = run([7]);
    const shard = (from: number, to: number) => {
      const acc = new StatisticsAccumulator(taps);
      for (let r = from; r < to; r++) {
        const out: Record<string, Float32Array> = {};
        taps.forEach((t, i) => (out[tapKey(t)] = perRow[i]![r]!));
        acc.addBatch(1, 4, out);
      }
      return acc.result();
    };
    const merged = mergeStatistics([shard(0, 3), shard(3, 7)]);
    expect(merged.tokens).toBe(whole.tokens);
    for (const t of taps) {
      const k = tapKey(t);
      merged.taps[k]!.forEach((v, i) => expect(v).toBeCloseTo(whole.taps[k]![i]!, 9));
    }
    expect(merged.taps[tapKey(taps[2]!)]).toEqual(whole.taps[tapKey(taps[2]!)]);
    expect(() => mergeStatistics([shard(0, 3), { ...shard(3, 7), taps: {} }])).toThrow(/different taps/);
  });

  it('gives compensation means and names missing taps', () => {
    const stats = run([7]);
    const comp = compensationStats(stats, { numLayers: 1 });
    expect(comp.layers[0]!.oProjInputMean).toEqual(stats.taps[tapKey(taps[0]!)]!.map((v) => v / 28));
    expect(() => tapValues(stats, { layer: 3, tensor: 'output', reduction: 'tokenNorm' }, 'llm-bip')).toThrow(/no tap layers.3.output.tokenNorm.*--criterion llm-bip/);
  });

  it('refuses batches of another sequence length', () => {
    const acc = new StatisticsAccumulator(taps.slice(0, 1));
    acc.addBatch(1, 4, { [tapKey(taps[0]!)]: [1, 2, 3] });
    expect(() => acc.addBatch(1, 5, { [tapKey(taps[0]!)]: [1, 2, 3] })).toThrow(/sequence length 5/);
  });
});
