import { describe, expect, it } from 'vitest';
import { MAX_WINDOW_BATCH, windowBatchFor, windowBytes } from './window-batch.js';

const GiB = 1024 ** 3;
const LLAMA2_7B = { vocab: 32000, hiddenSize: 4096, intermediateSize: 11008, numHeads: 32 };

describe('window batch from a memory estimate', () => {
  it('LLaMA-2-7B at 128 tokens: logits 65.5 MB, block 29.5 MB, attention 6.3 MB per window', () => {
    // by hand: 4*128*32000*4 = 65,536,000; 128*(6*4096 + 3*11008)*4 = 29,491,200; 3*32*128^2*4 = 6,291,456
    expect(windowBytes(LLAMA2_7B, 128)).toBe(65_536_000 + 29_491_200 + 6_291_456);
    expect(windowBatchFor(LLAMA2_7B, 128, 4 * GiB).batch).toBe(Math.floor((4 * GiB) / 101_318_656)); // 42
  });

  it('at 2048 tokens one window takes 3.1 GB: one per run in 4 GiB, two in 8 GiB', () => {
    // logits 4*2048*32000*4 = 1.05 GB, block 2048*57600*4 = 0.47 GB, attention 3*32*2048^2*4 = 1.61 GB
    expect(windowBytes(LLAMA2_7B, 2048)).toBe(1_048_576_000 + 471_859_200 + 1_610_612_736);
    expect(windowBatchFor(LLAMA2_7B, 2048, 4 * GiB).batch).toBe(1);
    expect(windowBatchFor(LLAMA2_7B, 2048, 8 * GiB).batch).toBe(2);
  });

  it('at least one window, at most MAX_WINDOW_BATCH and the windows there are', () => {
    expect(windowBatchFor(LLAMA2_7B, 2048, 1).batch).toBe(1);
    expect(windowBatchFor({ vocab: 100 }, 16, 64 * GiB).batch).toBe(MAX_WINDOW_BATCH);
    expect(windowBatchFor({ vocab: 100 }, 16, 64 * GiB, 7).batch).toBe(7);
  });

  it('unknown widths: the logits term counts twice; a missing vocabulary or budget is an error', () => {
    expect(windowBytes({ vocab: 32000 }, 128)).toBe(2 * 65_536_000);
    expect(() => windowBatchFor({ vocab: 0 }, 128, GiB)).toThrow(/without the model's vocabulary/);
    expect(() => windowBatchFor(LLAMA2_7B, 128, 0)).toThrow(/budget must be positive/);
  });
});
