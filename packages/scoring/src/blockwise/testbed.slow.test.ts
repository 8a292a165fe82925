/**
 * Block-by-block scoring on the test-bed models and the exporter fixtures: every statistic equal to the
 * whole-model run (1e-6 relative) and the plans of llm-bip, flap and wanda-sp identical (same hash),
 * at one block per session and under a memory budget that holds about three blocks; and the llm-bip plans
 * with the spectral norms in lockstep on the EP equal those of the per-matrix and float64 host products.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fixtures, tempDir } from '@llm-bip/testing';
import { loadModel, type LoadedModel } from '@llm-bip/onnx-io';
import { exportLlamaToOnnx, planModelShape, recogniseModel, type ModelSpec } from '@llm-bip/model';
import { collectStatistics, type ExecutionSchedule } from '../probe/collect.js';
import { getCriterion } from '../criteria/registry.js';
import { spectralNorms } from '../spectral.js';
import { makePlan } from '../allocation/plan.js';
import { modelWeights } from '../weights.js';
import { baseTaps, uniqueTaps } from '../statistics.js';
import type { AllocationMode } from '../allocation/allocate.js';
import type { SpectralNorms, Statistics } from '../types.js';
import { BlockwiseProbe } from './run.js';
import { ffnMatrices, gramGroups } from '../gram-group.js';
import { estimateSegments, probeOutputs } from './schedule.js';

const tmp = tempDir('scoring-blockwise-testbed-');
afterAll(tmp.cleanup);
const CRITERIA = ['llm-bip', 'flap', 'wanda-sp'];
// the reference calibration ids (16 x 128 of the test-bed tokenizer)
const rows = (JSON.parse(readFileSync(fixtures.scoresReference, 'utf8')) as { calibration: { input_ids: number[][] } }).calibration.input_ids;

function worst(a: Statistics, b: Statistics, scaled = false): number {
  expect(Object.keys(b.taps)).toEqual(Object.keys(a.taps));
  let w = 0;
  for (const [k, v] of Object.entries(a.taps)) {
    const scale = scaled ? Math.max(...v.map(Math.abs)) : 0;
    v.forEach((x, i) => (w = Math.max(w, Math.abs(x - b.taps[k]![i]!) / Math.max(scaled ? scale : Math.abs(x), 1e-30))));
  }
  return w;
}

async function planHashes(loaded: LoadedModel, spec: ModelSpec, stats: Statistics, criteria = CRITERIA, given?: SpectralNorms): Promise<string[]> {
  const weights = modelWeights(loaded.model, loaded.dir);
  const norms = given ?? (await spectralNorms(spec, weights));
  const out: string[] = [];
  for (const name of criteria) {
    const scores = await getCriterion(name).score(stats, weights, spec, { spectralNorms: norms });
    for (const ratio of [0.2, 0.5]) {
      const plan = makePlan(scores, planModelShape(spec, ''), { ratio, allocation: (scores.defaultAllocation ?? 'global-kind') as AllocationMode, createdAt: 'fixed' });
      out.push(`${name}@${ratio}:` + createHash('sha256').update(JSON.stringify(plan)).digest('hex'));
    }
  }
  return out;
}

describe.each([
  ['bip-llama-tiny', fixtures.tinyHf],
  ['bip-llama-small', fixtures.smallHf],
])('%s (fp32 export with KV cache, as the CLI makes it)', (name, hf) => {
  it('block by block: statistics within 1e-6 of the whole run, plans of llm-bip, flap and wanda-sp identical', async () => {
    const onnxPath = join(tmp.dir, `${name}.onnx`);
    await exportLlamaToOnnx(hf, onnxPath, { dtype: 'float32', kvCache: true });
    const loaded = await loadModel(onnxPath);
    const spec = recogniseModel(loaded.model);
    const taps = CRITERIA.flatMap((c) => getCriterion(c).taps(spec));
    const whole = await collectStatistics({ model: loaded, spec, taps, rows, batchSize: 8, ep: 'cpu' });
    const single = await collectStatistics({ model: loaded, spec, taps, rows, batchSize: 8, ep: 'cpu', blocksPerSession: 1 });
    const blocks = (await BlockwiseProbe.build(loaded, spec, uniqueTaps([...baseTaps(spec), ...taps]))).blocks.weightBytes();
    let schedule: ExecutionSchedule | undefined;
    // what blocks 0-2 in one segment need, by the schedule's own estimate (weights + a batch of 8 x 128)
    const budget = Math.max(
      estimateSegments({ spec, weights: blocks, batch: 8, seqLen: 128, ep: 'cpu', blockOutputs: probeOutputs(spec, uniqueTaps([...baseTaps(spec), ...taps])) }, [{ first: 0, last: 2 }, { first: 3, last: spec.numLayers - 1 }]).segments[1]!.totalBytes,
      blocks.embedding + 1e7,
    );
    const budgeted = await collectStatistics({ model: loaded, spec, taps, rows, batchSize: 8, ep: 'cpu', maxDeviceMemory: budget, onSchedule: (s) => (schedule = s) });
    expect(schedule!.mode).toBe('blockwise');
    expect(schedule!.blockwise!.ranges.length).toBeGreaterThan(1);
    expect(schedule!.blockwise!.ranges.length).toBeLessThan(spec.numLayers);
    expect(schedule!.batchSize).toBe(8);
    expect(worst(whole, single)).toBeLessThanOrEqual(1e-6);
    expect(worst(whole, budgeted)).toBeLessThanOrEqual(1e-6);
    const want = await planHashes(loaded, spec, whole);
    expect(await planHashes(loaded, spec, single)).toEqual(want);
    expect(await planHashes(loaded, spec, budgeted)).toEqual(want);
  }, 600_000);

  it('spectral norms in lockstep on the EP (one session; several under a budget) give the llm-bip plans of the per-matrix products and of the float64 host products', async () => {
    const onnxPath = join(tmp.dir, `${name}-spectral.onnx`);
    await exportLlamaToOnnx(hf, onnxPath, { dtype: 'float32', kvCache: true });
    const loaded = await loadModel(onnxPath);
    const spec = recogniseModel(loaded.model);
    const stats = await collectStatistics({ model: loaded, spec, taps: getCriterion('llm-bip').taps(spec), rows, batchSize: 8, ep: 'cpu' });
    const weights = modelWeights(loaded.model, loaded.dir);
    // a budget of about three layers' FFN
    const budget = gramGroups(ffnMatrices(loaded.model, spec).slice(0, 3))[0]!.totalBytes;
    const lines: string[] = [];
    const perMatrix = await spectralNorms(spec, weights);
    const host = await spectralNorms(spec, weights, { products: 'host' });
    const one = await spectralNorms(spec, weights, { model: loaded, ep: 'cpu' });
    const split = await spectralNorms(spec, weights, { model: loaded, ep: 'cpu', maxDeviceMemory: budget, onLog: (l) => lines.push(l) });
    expect(lines[0]).toMatch(new RegExp(`^spectral norms: ${Math.ceil(spec.numLayers / 3)} sessions of layers`));
    expect(split).toEqual(one);
    for (const n of [perMatrix, host]) {
      n.layers.forEach((l, i) => {
        for (const k of ['down', 'gate', 'up'] as const) expect(Math.abs(one.layers[i]![k] / l[k] - 1), `layer ${i} ${k}`).toBeLessThan(2e-6);
      });
    }
    const want = await planHashes(loaded, spec, stats, ['llm-bip'], perMatrix);
    expect(await planHashes(loaded, spec, stats, ['llm-bip'], host)).toEqual(want);
    expect(await planHashes(loaded, spec, stats, ['llm-bip'], one)).toEqual(want);
  }, 600_000);
});

describe('exporter fixtures of bip-llama-tiny', () => {
  const some = rows.slice(0, 4).map((r) => r.slice(0, 64));
  it('TorchScript export (fp16 weights, fp32 residual stream): statistics within 1e-6 of the whole run', async () => {
    const loaded = await loadModel(fixtures.torchscript);
    const spec = recogniseModel(loaded.model);
    const taps = CRITERIA.flatMap((c) => getCriterion(c).taps(spec));
    const whole = await collectStatistics({ model: loaded, spec, taps, rows: some, batchSize: 2, ep: 'cpu' });
    const bw = await collectStatistics({ model: loaded, spec, taps, rows: some, batchSize: 2, ep: 'cpu', blocksPerSession: 2 });
    expect(worst(whole, bw)).toBeLessThanOrEqual(1e-6);
  }, 300_000);

  it('dynamo export (fp16 residual stream): within 2e-3 of each tap\'s largest value — the CPU EP adds fp16 residuals in fp32 inside one session, a segment boundary rounds them to fp16', async () => {
    const loaded = await loadModel(fixtures.dynamo);
    const spec = recogniseModel(loaded.model);
    const taps = CRITERIA.flatMap((c) => getCriterion(c).taps(spec));
    const whole = await collectStatistics({ model: loaded, spec, taps, rows: some, batchSize: 2, ep: 'cpu' });
    const bw = await collectStatistics({ model: loaded, spec, taps, rows: some, batchSize: 2, ep: 'cpu', blocksPerSession: 1 });
    expect(worst(whole, bw, true)).toBeLessThanOrEqual(2e-3);
  }, 300_000);

  it('onnxruntime-genai builder export: refused with the reason and the way out (score it whole)', async () => {
    const loaded = await loadModel(fixtures.genai);
    const spec = recogniseModel(loaded.model);
    await expect(collectStatistics({ model: loaded, spec, taps: [], rows: some, ep: 'cpu', blocksPerSession: 1 })).rejects.toThrow(
      /cannot be scored block by block: block 1's attnContext tensor .* depends on block 0's input.*score it whole: leave out --max-device-memory/,
    );
  }, 300_000);
});
