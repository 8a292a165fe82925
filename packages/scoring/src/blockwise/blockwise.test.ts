/**
 * Block-by-block statistics on tiny random models: the segments partition the probe, the statistics
 * equal the whole-model run's, and the per-block API's hidden states equal the float64 reference
 * forward.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTinyLlama, tempDir } from '@llm-bip/testing';
import { isExternal, loadModel, tensorByteLength, type LoadedModel } from '@llm-bip/onnx-io';
import { recogniseModel } from '@llm-bip/model';
import { chunk, makeTokenBatch, toFloat32 } from '@llm-bip/runtime';
import { collectStatistics, type ExecutionSchedule } from '../probe/collect.js';
import { captureAll, tinyCase, tokenRows, type TinyCase } from '../tiny-models.testutil.js';
import { listCriteria } from '../criteria/registry.js';
import { baseTaps, uniqueTaps } from '../statistics.js';
import { tapKey, type Statistics } from '../types.js';
import { BlockwiseProbe } from './run.js';
import { estimateSegments, probeOutputs } from './schedule.js';

const tmp = tempDir('scoring-blockwise-');
afterAll(tmp.cleanup);

const rows = tokenRows(5, 12, 64, 7);
const cases: TinyCase[] = [];
const loaded: LoadedModel[] = [];
beforeAll(async () => {
  cases.push(await tinyCase(tmp.dir, 'mha', { seed: 1, hiddenSize: 32, numLayers: 3, numHeads: 4, numKvHeads: 4, intermediateSize: 48, vocabSize: 64 }));
  cases.push(await tinyCase(tmp.dir, 'gqa-kv', { seed: 2, hiddenSize: 32, numLayers: 3, numHeads: 4, numKvHeads: 2, intermediateSize: 40, vocabSize: 64 }, 'float32', true));
  for (const c of cases) loaded.push(await loadModel(c.onnxPath));
});

const tapsOf = (c: TinyCase) => uniqueTaps([...baseTaps(c.spec), ...listCriteria().flatMap((k) => k.taps(c.spec))]);

/** The largest |a - b| / |a| over every value of every tap; the tap keys must be the same, in the same order. */
function worstRelative(a: Statistics, b: Statistics): number {
  expect(Object.keys(b.taps)).toEqual(Object.keys(a.taps));
  let worst = 0;
  for (const [k, v] of Object.entries(a.taps)) v.forEach((x, i) => (worst = Math.max(worst, Math.abs(x - b.taps[k]![i]!) / Math.max(Math.abs(x), 1e-30))));
  return worst;
}

describe('segments of a probe', () => {
  it('split every block node into exactly one segment, every tap into its own block, and hand the hidden state on', async () => {
    for (const [i, c] of cases.entries()) {
      const bw = await BlockwiseProbe.build(loaded[i]!, c.spec, tapsOf(c));
      const segs = bw.segments([{ first: 0, last: 1 }, { first: 2, last: 2 }]);
      expect(segs.map((s) => s.blocks)).toEqual([null, { first: 0, last: 1 }, { first: 2, last: 2 }]);
      // each tap output is computed once, in the segment that runs its layer (output norms included)
      const tapsIn = segs.map((s) => s.tapOutputs.map((o) => o.name!));
      expect(tapsIn.flat().sort()).toEqual(bw.probe.outputs.map((o) => o.output).sort());
      for (const o of bw.probe.outputs) expect(tapsIn.findIndex((t) => t.includes(o.output)), o.key).toBe(o.tap.layer <= 1 ? 1 : 2);
      // the hidden state: embedding -> x_0 -> segment 1 -> x_2 -> segment 2
      expect(segs[0]!.carriedOut[0]).toBe(bw.blocks.hidden[0]);
      expect(segs[1]!.carriedIn[0]).toBe(bw.blocks.hidden[0]);
      expect(segs[1]!.carriedOut[0]).toBe(bw.blocks.hidden[2]);
      expect(segs[2]!.carriedIn[0]).toBe(bw.blocks.hidden[2]);
      expect(segs[2]!.carriedOut).toEqual([]);
      // nodes on the hidden-state path run once; only hidden-state-free ones (masks, rotary, constants) repeat
      const seen = new Map<object, number>();
      for (const s of segs) for (const n of s.nodes) seen.set(n, (seen.get(n) ?? 0) + 1);
      const repeated = [...seen].filter(([, k]) => k > 1).map(([n]) => n as { opType?: string });
      expect(repeated.every((n) => n.opType !== 'MatMul')).toBe(true);
      // the weights are split, not copied: one block per segment reads every probe initializer once,
      // plus the few small constants that hidden-state-free nodes repeat (under 1 %)
      const { embedding, blocks } = bw.blocks.weightBytes();
      expect(blocks).toHaveLength(3);
      const total = bw.probe.model.graph!.initializer!.reduce((a, t) => a + tensorByteLength(t), 0);
      const split = embedding + blocks.reduce((a, b) => a + b, 0);
      expect(split).toBeGreaterThanOrEqual(total);
      expect(split).toBeLessThan(total * 1.01);
    }
  });

  it('refuse ranges that do not cover the blocks in order', async () => {
    const c = cases[0]!;
    const bw = await BlockwiseProbe.build(loaded[0]!, c.spec, tapsOf(c));
    expect(() => bw.segments([{ first: 0, last: 0 }, { first: 2, last: 2 }])).toThrow(/cover blocks 0..2 in order/);
    expect(() => bw.segments([{ first: 0, last: 1 }])).toThrow(/end at block 1; the model has 3 blocks/);
  });
});

describe('block-by-block statistics', () => {
  it('equal the whole-model run (1e-6 relative; same keys in the same order) at 1 and 2 blocks per session and under a budget', async () => {
    for (const [i, c] of cases.entries()) {
      const taps = tapsOf(c);
      const whole = await collectStatistics({ model: loaded[i]!, spec: c.spec, taps, rows, batchSize: 2, ep: 'cpu' });
      for (const blocksPerSession of [1, 2]) {
        const bw = await collectStatistics({ model: loaded[i]!, spec: c.spec, taps, rows, batchSize: 2, ep: 'cpu', blocksPerSession });
        expect(worstRelative(whole, bw), `${c.name}, ${blocksPerSession} per session`).toBeLessThanOrEqual(1e-6);
        expect(bw.tokens).toBe(whole.tokens);
        expect(bw.executionProvider).toBe('cpu');
      }
      // a budget that holds two blocks at the batch of 2, by the schedule's own estimate: same statistics
      let schedule: ExecutionSchedule | undefined;
      const bw = await BlockwiseProbe.build(loaded[i]!, c.spec, taps);
      const input = { spec: c.spec, weights: bw.blocks.weightBytes(), batch: 2, seqLen: 12, ep: 'cpu' as const, blockOutputs: probeOutputs(c.spec, taps) };
      const budget = Math.max(...estimateSegments(input, [{ first: 0, last: 1 }, { first: 2, last: 2 }]).segments.map((s) => s.totalBytes));
      const budgeted = await collectStatistics({ model: loaded[i]!, spec: c.spec, taps, rows, batchSize: 2, ep: 'cpu', maxDeviceMemory: budget, onSchedule: (s) => (schedule = s) });
      expect(schedule!.mode).toBe('blockwise');
      expect(schedule!.blockwise!.peakBytes).toBeLessThanOrEqual(budget);
      expect(schedule!.blockwise!.ranges.length).toBeGreaterThan(1);
      expect(schedule!.batchSize).toBe(2);
      expect(worstRelative(whole, budgeted)).toBeLessThanOrEqual(1e-6);
    }
  });

  it('run the whole model in one session when it fits the budget, and report progress over every segment', async () => {
    const c = cases[0]!;
    const schedules: ExecutionSchedule[] = [];
    await collectStatistics({ model: loaded[0]!, spec: c.spec, taps: [], rows, batchSize: 2, ep: 'cpu', maxDeviceMemory: 1e12, onSchedule: (s) => schedules.push(s) });
    expect(schedules[0]!.mode).toBe('whole');
    expect(schedules[0]!.reason).toMatch(/fits/);
    const seen: Array<[number, number]> = [];
    const lines: string[] = [];
    await collectStatistics({ model: loaded[0]!, spec: c.spec, taps: [], rows, batchSize: 2, ep: 'cpu', blocksPerSession: 2, onProgress: (d, t) => seen.push([d, t]), onLog: (l) => lines.push(l) });
    // embedding + 2 segments, 5 rows each
    expect(seen.at(-1)).toEqual([15, 15]);
    expect(seen.every(([d], k) => k === 0 || d >= seen[k - 1]![0])).toBe(true);
    expect(lines.filter((l) => l.startsWith('segment '))).toEqual([expect.stringMatching(/^segment 1\/3: embedding/), expect.stringMatching(/^segment 2\/3: blocks 0-1/), expect.stringMatching(/^segment 3\/3: blocks 2-2/)]);
  });

  it('refuse a budget below one block before anything runs, saying how much a block needs', async () => {
    const c = cases[0]!;
    let ran = false;
    await expect(collectStatistics({ model: loaded[0]!, spec: c.spec, taps: [], rows, batchSize: 2, ep: 'cpu', maxDeviceMemory: 1000, onProgress: () => (ran = true) })).rejects.toThrow(
      /--max-device-memory 1\.0 kB is below what block 0 alone needs: about [\d.]+ kB .*Give at least/,
    );
    expect(ran).toBe(false);
  });

  it('work on a model whose weights are in external data (segments read them from the model folder)', async () => {
    const shape = { seed: 4, hiddenSize: 32, numLayers: 2, numHeads: 4, numKvHeads: 2, intermediateSize: 40, vocabSize: 64 };
    const t = await buildTinyLlama(shape, { dir: `${tmp.dir}/external`, dtype: 'float32', kvCache: false, externalData: true });
    const m = await loadModel(t.onnxPath);
    const spec = recogniseModel(m.model);
    const taps = uniqueTaps([...baseTaps(spec), ...listCriteria().flatMap((k) => k.taps(spec))]);
    // every block weight stays a reference into the model's data file
    const segs = (await BlockwiseProbe.build(m, spec, taps)).segments([{ first: 0, last: 0 }, { first: 1, last: 1 }]);
    const weights = segs.slice(1).flatMap((s) => s.initializers.filter((t) => (t.dims ?? []).length === 2 && t.name?.includes('proj')));
    expect(weights.length).toBeGreaterThan(0);
    expect(weights.every(isExternal)).toBe(true);
    const whole = await collectStatistics({ model: m, spec, taps, rows, batchSize: 3, ep: 'cpu' });
    const bw = await collectStatistics({ model: m, spec, taps, rows, batchSize: 3, ep: 'cpu', blocksPerSession: 1 });
    expect(worstRelative(whole, bw)).toBeLessThanOrEqual(1e-6);
  });
});

describe('the per-block API', () => {
  it('runs block 0 alone: its output equals the float64 reference forward (1e-5), its statistics the whole run', async () => {
    for (const [i, c] of cases.entries()) {
      const taps = tapsOf(c);
      const bw = await BlockwiseProbe.build(loaded[i]!, c.spec, taps);
      const segs = bw.segments([{ first: 0, last: 0 }, { first: 1, last: 2 }]);
      const batches = chunk(rows, 2).map((r) => makeTokenBatch(r));
      const embedded = await bw.runSegment(segs[0]!, batches, batches.map(() => ({})), { ep: 'cpu' });
      const block0 = await bw.runSegment(segs[1]!, batches, embedded.carried, { ep: 'cpu' });
      // y_0 = x_1 of every row against the float64 reference
      const ref = captureAll(c, rows)[0]!.y;
      const got = block0.carried.flatMap((f) => Array.from(toFloat32(f[bw.blocks.hidden[1]!]!)));
      expect(got).toHaveLength(ref.length);
      const scale = Math.max(...Array.from(ref, Math.abs));
      expect(Math.max(...got.map((v, k) => Math.abs(v - ref[k]!))) / scale).toBeLessThan(1e-5);
      // block 0's statistics: every layer-0 tap, equal to the whole run's
      const whole = await collectStatistics({ model: loaded[i]!, spec: c.spec, taps, rows, batchSize: 2, ep: 'cpu' });
      const layer0 = taps.filter((t) => t.layer === 0).map(tapKey);
      expect(Object.keys(block0.statistics.taps).sort()).toEqual([...layer0].sort());
      for (const k of layer0) expect(block0.statistics.taps[k]).toEqual(whole.taps[k]);
    }
  });

  it('names what is missing when a segment is run without the tensors it reads', async () => {
    const c = cases[0]!;
    const bw = await BlockwiseProbe.build(loaded[0]!, c.spec, tapsOf(c));
    const segs = bw.segments([{ first: 0, last: 2 }]);
    const batches = [makeTokenBatch(rows.slice(0, 2))];
    await expect(bw.runSegment(segs[1]!, batches, [{}])).rejects.toThrow(/segment 1 reads ".*", which the carried tensors do not hold: run the segments before it first/);
  });
});
