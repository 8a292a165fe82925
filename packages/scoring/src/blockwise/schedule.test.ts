import { describe, expect, it } from 'vitest';
import type { ModelSpec } from '@llm-bip/model';
import {
  blockActivationBytes,
  CUDA_FIXED_BYTES,
  describeSegment,
  epMemoryProfile,
  estimateSegments,
  formatBytes,
  hiddenStateBytes,
  minimumBudget,
  parseMemoryBudget,
  probeOutputs,
  scheduleByBudget,
  scheduleByCount,
  segmentReports,
  wholeModel,
  type ScheduleInput,
} from './schedule.js';

// only the fields the estimates read: hidden 64, 4 heads / 2 KV heads of 16, FFN 128, 5 blocks
const spec = { hiddenSize: 64, numLayers: 5, layers: Array.from({ length: 5 }, () => ({ numHeads: 4, numKvHeads: 2, headDim: 16, intermediateSize: 128 })) } as unknown as ModelSpec;
const cpu: ScheduleInput = { spec, weights: { embedding: 1000, blocks: [100, 200, 300, 100, 100] }, batch: 2, seqLen: 8, ep: 'cpu' };
const cuda: ScheduleInput = { ...cpu, ep: 'cuda' };
const GIB = 2 ** 30;

// Hand-computed sizes (float32, 4 bytes a value). One token of one block:
//   4 x hidden 256 + 5 x q width (4 x 16) 320 + 3 x kv width (2 x 16) 96 + o_proj out 64
//   + 3 x heads x seq (4 x 8) 96 + 10 x FFN 1280 = 2,112 values;
// a batch of 2 x 8 tokens: 2,112 x 16 x 4 = 135,168 B; the hidden state: 64 x 16 x 4 = 4,096 B.
const BLOCK_ACT = 135_168;
const HIDDEN = 4_096;

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

  it('count one block\'s activations from the shape: linear in batch x tokens plus the attention scores (quadratic in tokens)', () => {
    expect(blockActivationBytes(spec, 2, 8)).toBe(BLOCK_ACT);
    expect(hiddenStateBytes(spec, 2, 8)).toBe(HIDDEN);
    expect(blockActivationBytes(spec, 4, 8)).toBe(2 * BLOCK_ACT);
    // at 16 tokens the scores term (3 x 4 heads x seq) doubles per token: 2,112 + 96 values
    expect(blockActivationBytes(spec, 2, 16)).toBe(2 * 16 * (2_112 + 96) * 4);
  });

  it('fold each EP\'s own memory in: CUDA 1 GiB and 4x the live tensors (BFC arena), CPU plain', () => {
    expect(epMemoryProfile('cuda')).toEqual({ ep: 'cuda', fixedBytes: GIB, activationFactor: 4 });
    expect(CUDA_FIXED_BYTES).toBe(GIB);
    expect(epMemoryProfile('cpu')).toEqual({ ep: 'cpu', fixedBytes: 0, activationFactor: 1 });
    expect(epMemoryProfile('webgpu').fixedBytes).toBeGreaterThan(0);
  });

  it('per segment: weights, live tensors (block, hidden in and out, the blocks\' outputs, the head), reserve and EP overhead, by hand', () => {
    // outputs of each block: 10 floats a row and 5 a run; the head: 1,000 bytes a row
    const input: ScheduleInput = { ...cuda, blockOutputs: spec.layers.map(() => ({ perRow: 10, perRun: 5 })), headBytesPerRow: 1000 };
    const s = estimateSegments(input, [
      { first: 0, last: 2 },
      { first: 3, last: 4 },
    ]);
    // the embedding: its table and the hidden state it hands on
    expect(s.segments[0]).toEqual({ blocks: null, weightBytes: 1000, activationBytes: HIDDEN, reserveBytes: 3 * HIDDEN, overheadBytes: GIB, totalBytes: 1000 + 4 * HIDDEN + GIB });
    // blocks 0-2: one block's activations, the hidden state in and out, three blocks' outputs of (10 x 2 + 5) x 4 = 100 B
    const act02 = BLOCK_ACT + 2 * HIDDEN + 3 * 100;
    expect(s.segments[1]).toEqual({ blocks: { first: 0, last: 2 }, weightBytes: 600, activationBytes: act02, reserveBytes: 3 * act02, overheadBytes: GIB, totalBytes: 600 + 4 * act02 + GIB });
    // blocks 3-4 end the model: the head's 1,000 B a row for 2 rows as well
    const act34 = BLOCK_ACT + 2 * HIDDEN + 2 * 100 + 2000;
    expect(s.segments[2]!.activationBytes).toBe(act34);
    expect(s.segments[2]!.totalBytes).toBe(200 + 4 * act34 + GIB);
    expect(s.peakBytes).toBe(s.segments[2]!.totalBytes);
    expect([s.batch, s.requestedBatch, s.ep]).toEqual([2, 2, 'cuda']);
    // the whole model in one session: every weight, one block's activations, every output, the head
    const actWhole = BLOCK_ACT + 2 * HIDDEN + 5 * 100 + 2000;
    expect(wholeModel(input)).toEqual({ weightBytes: 1800, activationBytes: actWhole, reserveBytes: 3 * actWhole, overheadBytes: GIB, totalBytes: 1800 + 4 * actWhole + GIB });
    // on the CPU EP the same segment has no reserve and no overhead
    expect(estimateSegments({ ...input, ep: 'cpu' }, [{ first: 0, last: 4 }]).segments[1]!.totalBytes).toBe(800 + BLOCK_ACT + 2 * HIDDEN + 5 * 100 + 2000);
    // what the progress line and --json show
    expect(describeSegment(s.segments[1]!)).toBe(`blocks 0-2, weights 600 B, activations ${formatBytes(act02)}, reserve ${formatBytes(3 * act02)}, EP 1.07 GB, estimate ${formatBytes(600 + 4 * act02 + GIB)}`);
    expect(segmentReports(s, [undefined, 5e9])[1]).toEqual({ segment: 'blocks 0-2', weightBytes: 600, activationBytes: act02, reserveBytes: 3 * act02, overheadBytes: GIB, estimatedBytes: 600 + 4 * act02 + GIB, measuredBytes: 5e9 });
    expect(segmentReports(s)[0]).not.toHaveProperty('measuredBytes');
  });

  it('size the probe\'s outputs per block: a tap\'s width a row (channels, heads or 1), the input moments a run', () => {
    const out = probeOutputs(
      spec,
      [
        { layer: 0, tensor: 'ffnAct', reduction: 'sum' },
        { layer: 0, tensor: 'ffnAct', reduction: 'sumSquares' },
        { layer: 0, tensor: 'attnContext', reduction: 'headNormSlope' },
        { layer: 0, tensor: 'residualMid', reduction: 'lipschitzValue' },
        { layer: 1, tensor: 'output', reduction: 'tokenNorm' },
        { layer: 1, tensor: 'attnContext', reduction: 'sumAbs' },
      ],
      [{ layer: 1, width: 128 }],
    );
    expect(out[0]).toEqual({ perRow: 128 + 128 + 4 + 1, perRun: 0 });
    expect(out[1]).toEqual({ perRow: 1 + 64, perRun: 128 * 128 + 128 });
    expect(out.slice(2)).toEqual([0, 0, 0].map(() => ({ perRow: 0, perRun: 0 })));
  });
});

describe('plans for budgets', () => {
  // one block alone on CUDA at batch 2: 1 GiB + weights + 4 x (135,168 + 8,192) = 1 GiB + w + 573,440
  const ACT2 = 4 * (BLOCK_ACT + 2 * HIDDEN);
  // at batch 1 it halves: 4 x (67,584 + 4,096) = 286,720
  const ACT1 = 286_720;

  it('pack as many consecutive blocks per segment as fit, on the CPU EP as on CUDA', () => {
    const onCpu = scheduleByBudget(cpu, BLOCK_ACT + 2 * HIDDEN + 300);
    expect(onCpu.ranges).toEqual([
      { first: 0, last: 1 },
      { first: 2, last: 2 },
      { first: 3, last: 4 },
    ]);
    const onCuda = scheduleByBudget(cuda, GIB + ACT2 + 300);
    expect(onCuda.ranges).toEqual(onCpu.ranges);
    expect(onCuda.segments.map((x) => x.weightBytes)).toEqual([1000, 300, 300, 200]);
    expect(onCuda.peakBytes).toBeLessThanOrEqual(GIB + ACT2 + 300);
    expect([onCuda.budgetBytes, onCuda.batch]).toEqual([GIB + ACT2 + 300, 2]);
    // a budget with room for the whole model's weights takes every block in one segment
    expect(scheduleByBudget(cuda, GIB + ACT2 + 1000).ranges).toEqual([{ first: 0, last: 4 }]);
  });

  it('lower the batch when one block does not fit at the asked one, and pack at the lower batch', () => {
    expect(minimumBudget(cuda)).toBe(GIB + ACT2 + 300);
    expect(minimumBudget(cuda, 1)).toBe(GIB + ACT1 + 300);
    // a byte short of block 2 at batch 2: at batch 1 every block fits, and all five together (800 B) too
    const s = scheduleByBudget(cuda, GIB + ACT2 + 299);
    expect([s.batch, s.requestedBatch]).toEqual([1, 2]);
    expect(s.ranges).toEqual([{ first: 0, last: 4 }]);
    expect(s.segments[1]!.totalBytes).toBe(GIB + ACT1 + 800);
    expect(s.peakBytes).toBeLessThanOrEqual(GIB + ACT2 + 299);
    // a model that fixes its batch is never lowered: refused instead, saying so
    expect(() => scheduleByBudget({ ...cuda, batchFixed: true }, GIB + ACT2 + 299)).toThrow(/below what block 2 alone needs: about .* on the CUDA EP.*the model fixes its batch at 2: re-export it with a dynamic batch axis/);
  });

  it('refuse a budget not even one row fits, naming what does not fit, its parts, the smallest budget and the fix', () => {
    let message = '';
    try {
      scheduleByBudget(cuda, GIB + ACT1 + 299);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toBe(
      `--max-device-memory ${formatBytes(GIB + ACT1 + 299)} is below what block 2 alone needs: about ${formatBytes(GIB + ACT1 + 300)} on the CUDA EP ` +
        `(weights 300 B, activations ${formatBytes(ACT1 / 4)} for a batch of 1 x 8 tokens, the allocator's reserve ${formatBytes((3 * ACT1) / 4)}, the CUDA EP's own 1.07 GB). ` +
        `Give at least ${formatBytes(GIB + ACT1 + 300)} (the batch is lowered to fit, down to 1 row; ${formatBytes(GIB + ACT2 + 300)} keeps the batch of 2).`,
    );
    // the embedding and the last block with the LM head are named as such
    expect(() => scheduleByBudget({ ...cpu, weights: { ...cpu.weights, embedding: 1e9 } }, 1e6)).toThrow(/below what the embedding alone needs: about 1\.00 GB on the CPU EP \(weights 1\.00 GB, activations 2\.0 kB for a batch of 1 x 8 tokens\)\. Give at least 1\.00 GB/);
    expect(() => scheduleByBudget({ ...cpu, headBytesPerRow: 1e9 }, 1e6)).toThrow(/below what block 4 with the LM head alone needs: about 1\.00 GB on the CPU EP/);
  });

  it('take a fixed count of blocks per segment, the last one holding the rest', () => {
    expect(scheduleByCount(cpu, 2).ranges).toEqual([
      { first: 0, last: 1 },
      { first: 2, last: 3 },
      { first: 4, last: 4 },
    ]);
    expect(scheduleByCount(cpu, 9).ranges).toEqual([{ first: 0, last: 4 }]);
    expect(() => scheduleByCount(cpu, 0)).toThrow(/whole number >= 1/);
    expect(estimateSegments(cpu, [{ first: 0, last: 4 }]).segments[1]!.weightBytes).toBe(800);
  });
});
