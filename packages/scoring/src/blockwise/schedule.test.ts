import { describe, expect, it } from 'vitest';
import type { ModelSpec } from '@llm-bip/model';
import { blockActivationBytes, estimateSegments, formatBytes, hiddenStateBytes, parseMemoryBudget, scheduleByBudget, scheduleByCount, wholeModelBytes } from './schedule.js';

// only the fields the estimates read
const spec = { hiddenSize: 64, numLayers: 5, layers: [{ numHeads: 4, numKvHeads: 2, headDim: 16, intermediateSize: 128 }] } as unknown as ModelSpec;
const input = { spec, weights: { embedding: 1000, blocks: [100, 200, 300, 100, 100] }, batch: 2, seqLen: 8 };
const act = blockActivationBytes(spec, 2, 8) + 2 * hiddenStateBytes(spec, 2, 8);

describe('memory budgets', () => {
  it('parse decimal and binary units, plain bytes and auto; refuse anything else with the accepted forms', () => {
    expect(parseMemoryBudget('8GB')).toBe(8e9);
    expect(parseMemoryBudget('500MB')).toBe(5e8);
    expect(parseMemoryBudget('1.5GiB')).toBe(1.5 * 2 ** 30);
    expect(parseMemoryBudget('64 mib')).toBe(64 * 2 ** 20);
    expect(parseMemoryBudget('123456')).toBe(123456);
    expect(parseMemoryBudget('auto')).toBe('auto');
    for (const bad of ['', 'lots', '8XB', '-1GB', '0', 'GB']) expect(() => parseMemoryBudget(bad), bad).toThrow(/must be a size such as 8GB, 500MB, 1.5GiB or a number of bytes, or auto/);
    expect(formatBytes(1_234_000_000)).toBe('1.23 GB');
    expect(formatBytes(512)).toBe('512 B');
  });

  it('estimate activations from the shape: linear in batch x tokens plus the attention scores (quadratic in tokens)', () => {
    // per token: 4h + 2q + 2kv + h + 2 heads seq + 6 ffn, in float32
    expect(blockActivationBytes(spec, 2, 8)).toBe(2 * 8 * (4 * 64 + 2 * 64 + 2 * 32 + 64 + 2 * 4 * 8 + 6 * 128) * 4);
    expect(blockActivationBytes(spec, 4, 8)).toBe(2 * blockActivationBytes(spec, 2, 8));
    expect(wholeModelBytes(input)).toBe(1000 + 800 + act);
  });

  it('pack as many consecutive blocks per segment as fit, and refuse a budget below one block or the embedding', () => {
    const s = scheduleByBudget(input, act + 300);
    expect(s.ranges).toEqual([
      { first: 0, last: 1 },
      { first: 2, last: 2 },
      { first: 3, last: 4 },
    ]);
    expect(s.peakBytes).toBeLessThanOrEqual(act + 300);
    expect(s.budgetBytes).toBe(act + 300);
    expect(s.segments.map((x) => x.weightBytes)).toEqual([1000, 300, 300, 200]);
    expect(() => scheduleByBudget(input, act + 299)).toThrow(/is below what block 2 alone needs: about .*weights 300 B.*Give at least/);
    expect(() => scheduleByBudget({ ...input, weights: { ...input.weights, embedding: 10 * act } }, act + 1000)).toThrow(/below what the embedding alone needs/);
  });

  it('take a fixed count of blocks per segment, the last one holding the rest', () => {
    expect(scheduleByCount(input, 2).ranges).toEqual([
      { first: 0, last: 1 },
      { first: 2, last: 3 },
      { first: 4, last: 4 },
    ]);
    expect(scheduleByCount(input, 9).ranges).toEqual([{ first: 0, last: 4 }]);
    expect(() => scheduleByCount(input, 0)).toThrow(/whole number >= 1/);
    expect(estimateSegments(input, [{ first: 0, last: 4 }]).segments[1]!.weightBytes).toBe(800);
  });
});
