/**
 * Sequential pruning on a tiny GQA model, against the float64 reference forward (tooling/testing):
 * with nothing pruned it is the one-shot run; block l's inputs are the outputs of the pruned blocks
 * 0..l-1 (mean compensation or least-squares fits); block l's FFN is measured, chosen and fit with
 * block l's attention already pruned; the written model computes what the plan and its biases say.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTinyLlama, fixtures, referenceForward, referenceInputMoments, tempDir, type LayerActivations } from '@llm-bip/testing';
import { loadHfWeightsFloat64, planModelShape, type LlamaConfig, type PruningPlan } from '@llm-bip/model';
import { createSession, makeTokenBatch, toFloat32, type OrtTensor } from '@llm-bip/runtime';
import { reselectLayer, tapValues, type CalibrationSet, type ProjectionMoments, type Statistics } from '@llm-bip/scoring';
import { removalOrder, removedProjectionInputs, type Reconstruction } from '@llm-bip/surgery';
import { loadModelInput, planFromScores, pruneTo, scoreModel, sequentialPrune, type ModelInput } from './index.js';
import { DEFAULTS } from './defaults.js';
import { checkSequential } from './sequential.js';

const tmp = tempDir('pipeline-sequential-');
afterAll(tmp.cleanup);

const SHAPE = { seed: 43, hiddenSize: 32, numLayers: 3, numHeads: 4, numKvHeads: 2, intermediateSize: 40, vocabSize: 64 };

function rowsOf(n: number, len: number, seed: number): number[][] {
  let a = seed >>> 0;
  const next = () => ((a = (Math.imul(a, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  return Array.from({ length: n }, () => Array.from({ length: len }, () => Math.floor(next() * SHAPE.vocabSize)));
}

function worstRelative(got: ArrayLike<number>, want: ArrayLike<number>): number {
  expect(got.length).toBe(want.length);
  let worst = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
    scale = Math.max(scale, Math.abs(want[i]!));
  }
  return worst / scale;
}

/**
 * The dense HF weights as the pruned model computes them: o_proj / down_proj input columns of removed
 * groups zero, the bias added; refit columns from a reconstruction, else the mean compensation
 * W[:, removed] · mean(x[removed]) from the statistics.
 */
function prunedWeights(m: ModelInput, config: LlamaConfig, hf: Map<string, Float64Array>, plan: PruningPlan, by: { statistics: Statistics } | { reconstruction: Reconstruction }): Map<string, Float64Array> {
  const out = new Map(hf);
  const H = config.hiddenSize;
  for (const c of removedProjectionInputs(m.spec, plan)) {
    const name = `model.layers.${c.layer}.${c.block === 'attention' ? 'self_attn.o_proj' : 'mlp.down_proj'}`;
    const w = hf.get(`${name}.weight`)!.slice(); // [out, in]
    const n = w.length / H;
    const bias = new Float64Array(H);
    if ('statistics' in by) {
      const s = by.statistics;
      const sum = tapValues(s, { layer: c.layer, tensor: c.block === 'attention' ? 'attnContext' : 'ffnAct', reduction: 'sum' }, 'test');
      for (const r of c.removed) for (let o = 0; o < H; o++) bias[o]! += w[o * n + r]! * (sum[r]! / s.tokens);
    } else {
      const p = by.reconstruction.projection(c.layer, c.block)!;
      expect(p.keep).toEqual(c.keep);
      const fit = p.weight();
      p.keep.forEach((s, a) => {
        for (let o = 0; o < H; o++) w[o * n + s] = fit[a * H + o]!;
      });
      bias.set(p.bias);
    }
    for (const r of c.removed) for (let o = 0; o < H; o++) w[o * n + r] = 0;
    out.set(`${name}.weight`, w);
    out.set(`${name}.bias`, bias);
  }
  return out;
}

/** The pruned weights with block `layer`'s attention as it was (dense o_proj, no bias): what its FFN saw before the attention was pruned. */
function withDenseAttention(weights: Map<string, Float64Array>, hf: Map<string, Float64Array>, layer: number): Map<string, Float64Array> {
  const out = new Map(weights);
  out.set(`model.layers.${layer}.self_attn.o_proj.weight`, hf.get(`model.layers.${layer}.self_attn.o_proj.weight`)!);
  out.delete(`model.layers.${layer}.self_attn.o_proj.bias`);
  return out;
}

/**
 * Stage (b) against the float64 reference forward of the final weights `want` (block l's down_proj cut
 * does not reach its own input, so `want`'s s at block l is the FFN of block l with its attention pruned):
 * every block's ffnAct taps (sum, and llm-bip's sumAbs), and its channels, the best by llm-bip's exact
 * score ||W_down[:,k]|| mean_t |s_tk| on those activations. Returns a block whose attention was cut.
 */
function expectFfnOnPrunedAttention(config: LlamaConfig, hf: Map<string, Float64Array>, want: Map<string, Float64Array>, rows: number[][], plan: PruningPlan, stats: Statistics): number {
  const I = config.intermediateSize;
  const H = config.hiddenSize;
  const acts: LayerActivations[] = [];
  referenceForward(config, want, rows, { capture: (l, a) => (acts[l] = a) });
  for (let l = 0; l < config.numLayers; l++) {
    const s = acts[l]!.s;
    const sum = referenceInputMoments(s, I).sum;
    const sumAbs = referenceInputMoments(s.map(Math.abs), I).sum;
    // float32 graph sums of 8 x 16 tokens against float64: measured below 1e-6 of the largest
    expect(worstRelative(tapValues(stats, { layer: l, tensor: 'ffnAct', reduction: 'sum' }, 'test'), sum), `block ${l} ffnAct sum`).toBeLessThan(1e-5);
    expect(worstRelative(tapValues(stats, { layer: l, tensor: 'ffnAct', reduction: 'sumAbs' }, 'test'), sumAbs), `block ${l} ffnAct sumAbs`).toBeLessThan(1e-5);
    const down = hf.get(`model.layers.${l}.mlp.down_proj.weight`)!; // [out, in]
    const score = Array.from({ length: I }, (_, k) => Math.hypot(...Array.from({ length: H }, (_, o) => down[o * I + k]!)) * sumAbs[k]!);
    const keep = plan.layers[l]!.keepChannels;
    const best = score.map((v, k) => [v, k] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]).slice(0, keep.length).map(([, k]) => k).sort((a, b) => a - b);
    expect(keep, `block ${l} channels`).toEqual(best);
  }
  const cut = plan.layers.findIndex((lp) => lp.keepKvHeads.length < config.numKvHeads);
  expect(cut, 'a block whose attention is cut').toBeGreaterThanOrEqual(0);
  // and not what the FFN sees under the block's dense attention (one run per block did that)
  const before: LayerActivations[] = [];
  referenceForward(config, withDenseAttention(want, hf, cut), rows, { capture: (l, a) => (before[l] = a) });
  expect(worstRelative(tapValues(stats, { layer: cut, tensor: 'ffnAct', reduction: 'sum' }, 'test'), referenceInputMoments(before[cut]!.s, I).sum)).toBeGreaterThan(1e-3);
  return cut;
}

describe('sequential pruning (tiny GQA model, fp32, 3 blocks)', () => {
  let m: ModelInput;
  let config: LlamaConfig;
  let hf: Map<string, Float64Array>;
  const rows = rowsOf(8, 16, 5);
  const calibration: CalibrationSet = { rows, samples: 8, seqLen: 16, seed: 0, source: 'test rows' };
  beforeAll(async () => {
    const t = await buildTinyLlama(SHAPE, { dir: join(tmp.dir, 'gqa'), dtype: 'float32', kvCache: false });
    m = await loadModelInput(t.onnxPath);
    config = t.config;
    hf = (await loadHfWeightsFloat64(t.hfDir)).weights;
  });

  /** Every block's hidden-state input, concatenated over the batches (row order). */
  const capture = () => {
    const inputs: Float32Array[] = [];
    return {
      inputs,
      onBlockInput: (layer: number, hidden: readonly OrtTensor[]) => {
        const parts = hidden.map((t) => toFloat32(t));
        const all = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
        let at = 0;
        for (const p of parts) {
          all.set(p, at);
          at += p.length;
        }
        inputs[layer] = all;
      },
    };
  };

  it('with nothing pruned, is the one-shot run: the same statistics, plan and block inputs as the dense model', async () => {
    const { statistics, scores } = await scoreModel(m, { calibration, ep: 'cpu' });
    const plan = planFromScores(scores, planModelShape(m.spec, ''), { ratio: 0 });
    const seen = capture();
    const seq = await sequentialPrune(m, calibration, { plan, scores, ep: 'cpu', batchSize: 3 }, { onBlockInput: seen.onBlockInput });
    expect(seq.plan.layers).toEqual(plan.layers);
    expect(Object.keys(seq.statistics.taps).sort()).toEqual(Object.keys(statistics.taps).sort());
    // the same float32 forward, cut at block boundaries and batched by 3 instead of 8 (per-row reductions summed in row order: measured equal)
    for (const [k, v] of Object.entries(statistics.taps)) expect(worstRelative(seq.statistics.taps[k]!, v), k).toBeLessThan(1e-5);
    const acts: LayerActivations[] = [];
    referenceForward(config, hf, rows, { capture: (l, a) => (acts[l] = a) });
    for (let l = 0; l < SHAPE.numLayers; l++) expect(worstRelative(seen.inputs[l]!, acts[l]!.x), `block ${l}`).toBeLessThan(1e-5);
  });

  it('scores each block on the pruned blocks\' outputs (compensated), keeps the allocation, and writes that model', async () => {
    const { scores } = await scoreModel(m, { calibration, ep: 'cpu' });
    const oneShot = planFromScores(scores, planModelShape(m.spec, ''), { ratio: 0.4 });
    const seen = capture();
    const seq = await sequentialPrune(m, calibration, { plan: oneShot, scores, ep: 'cpu', batchSize: 3 }, { onBlockInput: seen.onBlockInput });
    // the allocation is the one-shot plan's; block 0 sees the dense inputs, so it chooses the same groups
    seq.plan.layers.forEach((lp, l) => {
      expect(lp.keepKvHeads.length, `layer ${l}`).toBe(oneShot.layers[l]!.keepKvHeads.length);
      expect(lp.keepChannels.length, `layer ${l}`).toBe(oneShot.layers[l]!.keepChannels.length);
    });
    expect(seq.plan.layers[0]).toEqual(oneShot.layers[0]);
    // later blocks see other inputs, and at least one of them chooses other groups than the one-shot plan
    expect(seq.plan.layers.slice(1).some((lp, i) => JSON.stringify(lp) !== JSON.stringify(oneShot.layers[i + 1]))).toBe(true);

    // block l's input is block l-1's output in the pruned model: the float64 reference of the pruned weights
    // (measured within 4e-7 of the largest value; the dense model's inputs to block 2 differ by 0.6)
    const want = prunedWeights(m, config, hf, seq.plan, { statistics: seq.statistics });
    const acts: LayerActivations[] = [];
    referenceForward(config, want, rows, { capture: (l, a) => (acts[l] = a) });
    for (let l = 0; l < SHAPE.numLayers; l++) expect(worstRelative(seen.inputs[l]!, acts[l]!.x), `block ${l}`).toBeLessThan(1e-5);
    // and not the dense model's
    const dense: LayerActivations[] = [];
    referenceForward(config, hf, rows, { capture: (l, a) => (dense[l] = a) });
    expect(worstRelative(seen.inputs[2]!, dense[2]!.x)).toBeGreaterThan(1e-3);
    // each block's FFN taps and channels come from the run with its attention pruned and compensated
    expectFfnOnPrunedAttention(config, hf, want, rows, seq.plan, seq.statistics);

    // the written model: logits of the plan's weights and the pass's compensation
    const out = await pruneTo(m, { plan: seq.plan, outPath: join(tmp.dir, 'seq-comp', 'model.onnx'), compensation: seq.statistics });
    await expectLogits(out.modelPath, config, want);
  });

  it('with reconstruction, fits each block on the pruned inputs; the written model is the fits', async () => {
    const { scores } = await scoreModel(m, { calibration, ep: 'cpu' });
    const oneShot = planFromScores(scores, planModelShape(m.spec, ''), { ratio: 0.4 });
    const seen = capture();
    const used: ProjectionMoments[] = [];
    const seq = await sequentialPrune(m, calibration, { plan: oneShot, scores, reconstruct: { lambda: 'auto', holdout: 0.25 }, ep: 'cpu', batchSize: 3 }, { onBlockInput: seen.onBlockInput, onMoments: (x) => used.push(x) });
    try {
      const rec = seq.reconstruction!;
      expect(rec.summary()).toMatchObject({ method: 'least-squares', lambda: 'auto', holdoutSamples: 2, sequential: true });
      const want = prunedWeights(m, config, hf, seq.plan, { reconstruction: rec });
      const acts: LayerActivations[] = [];
      referenceForward(config, want, rows, { capture: (l, a) => (acts[l] = a) });
      for (let l = 0; l < SHAPE.numLayers; l++) expect(worstRelative(seen.inputs[l]!, acts[l]!.x), `block ${l}`).toBeLessThan(1e-5);

      // the moments each fit used: o_proj's of the dense attention, down_proj's with the attention pruned and
      // refit, i.e. of `want` in both cases, rows 0..5 fitted and rows 6..7 held out
      const cuts = removedProjectionInputs(m.spec, seq.plan);
      expect(used.map((x) => `${x.layer}.${x.tensor}`)).toEqual(cuts.map((c) => `${c.layer}.${c.block === 'attention' ? 'attnContext' : 'ffnAct'}`));
      const split = (rows.length - 2) * 16;
      for (const x of used) {
        const a = acts[x.layer]!;
        const [act, width] = x.tensor === 'ffnAct' ? [a.s, SHAPE.intermediateSize] : [a.z, config.numHeads * config.headDim];
        for (const [part, ref] of [
          [x.train, referenceInputMoments(act, width, 0, split)],
          [x.holdout!, referenceInputMoments(act, width, split)],
        ] as const) {
          expect(part.tokens).toBe(ref.tokens);
          // float32 Gram sums of 3 x 16 tokens per batch against float64: measured below 1e-6 of the largest entry
          expect(worstRelative(part.gram, ref.gram), `block ${x.layer} ${x.tensor} gram`).toBeLessThan(1e-5);
          expect(worstRelative(part.sum, ref.sum), `block ${x.layer} ${x.tensor} sum`).toBeLessThan(1e-5);
        }
      }
      const cut = expectFfnOnPrunedAttention(config, hf, want, rows, seq.plan, seq.statistics);
      const ffn = used.find((x) => x.layer === cut && x.tensor === 'ffnAct')!;
      const before: LayerActivations[] = [];
      referenceForward(config, withDenseAttention(want, hf, cut), rows, { capture: (l, a) => (before[l] = a) });
      expect(worstRelative(ffn.train.gram, referenceInputMoments(before[cut]!.s, SHAPE.intermediateSize, 0, split).gram)).toBeGreaterThan(1e-3);
      const out = await pruneTo(m, { plan: seq.plan, outPath: join(tmp.dir, 'seq-recon', 'model.onnx'), reconstruction: rec });
      expect(out.record.reconstruction).toMatchObject({ sequential: true });
      await expectLogits(out.modelPath, config, want);
    } finally {
      seq.reconstruction?.dispose();
    }
  });

  it('selectCriterion: the allocation stays the scores\' own, each block is chosen by the other criterion', async () => {
    const { scores } = await scoreModel(m, { calibration, ep: 'cpu' });
    const oneShot = planFromScores(scores, planModelShape(m.spec, ''), { ratio: 0.4 });
    // magnitude scores depend on the weights alone, so the block-by-block choice must be the dense model's magnitude order at the allocated counts
    const magnitude = await scoreModel(m, { calibration, criterion: 'magnitude', ep: 'cpu' });
    const seq = await sequentialPrune(m, calibration, { plan: oneShot, scores, selectCriterion: 'magnitude', ep: 'cpu', batchSize: 3 });
    seq.plan.layers.forEach((lp, l) => {
      const alloc = oneShot.layers[l]!;
      const want = reselectLayer(magnitude.scores.layers[l]!, oneShot.model, l, { kvHeads: alloc.keepKvHeads.length, channels: alloc.keepChannels.length });
      expect(lp, `layer ${l}`).toEqual(want);
    });
    expect(JSON.stringify(seq.plan.layers)).not.toEqual(JSON.stringify(oneShot.layers));
  });

  it('select: reconstruction keeps the allocated counts, chosen by the greedy refit loss on the moments the fits use', async () => {
    const { scores } = await scoreModel(m, { calibration, ep: 'cpu' });
    const oneShot = planFromScores(scores, planModelShape(m.spec, ''), { ratio: 0.4 });
    await expect(sequentialPrune(m, calibration, { plan: oneShot, scores, select: 'reconstruction', ep: 'cpu' })).rejects.toThrow(/needs the reconstruction: add --reconstruct/);
    const used: ProjectionMoments[] = [];
    const reconstruct = { lambda: 'auto' as const, holdout: 0.25 };
    const seq = await sequentialPrune(m, calibration, { plan: oneShot, scores, reconstruct, select: 'reconstruction', ep: 'cpu', batchSize: 3 }, { onMoments: (x) => used.push(x) });
    const byCriterion = await sequentialPrune(m, calibration, { plan: oneShot, scores, reconstruct, ep: 'cpu', batchSize: 3 });
    byCriterion.reconstruction?.dispose();
    try {
      const H = config.hiddenSize;
      const rep = config.numHeads / config.numKvHeads;
      seq.plan.layers.forEach((lp, l) => {
        const alloc = oneShot.layers[l]!;
        expect(lp.keepKvHeads.length, `layer ${l}`).toBe(alloc.keepKvHeads.length);
        expect(lp.keepChannels.length, `layer ${l}`).toBe(alloc.keepChannels.length);
        for (const [kind, tensor, name, count, kept] of [
          ['heads', 'attnContext', 'self_attn.o_proj', config.numKvHeads, lp.keepKvHeads],
          ['channels', 'ffnAct', 'mlp.down_proj', SHAPE.intermediateSize, lp.keepChannels],
        ] as const) {
          if (kept.length === count) continue;
          const x = used.find((u) => u.layer === l && u.tensor === tensor)!;
          // the HF weight [out][in] as [in][out]; a KV group owns rep query heads of headDim inputs each
          const w = hf.get(`model.layers.${l}.${name}.weight`)!;
          const n = w.length / H;
          const data = new Float64Array(n * H);
          for (let o = 0; o < H; o++) for (let i = 0; i < n; i++) data[i * H + o] = w[o * n + i]!;
          const size = kind === 'heads' ? rep * config.headDim : 1;
          const groups = Array.from({ length: count }, (_, g) => Array.from({ length: size }, (_, k) => g * size + k));
          const order = removalOrder({ inFeatures: n, outFeatures: H, data }, x.train, groups, count - kept.length, DEFAULTS.reconstruction.selectAlpha);
          expect([...kept], `layer ${l} ${kind}`).toEqual(Array.from({ length: count }, (_, g) => g).filter((g) => !order.removed.includes(g)));
        }
        expect(lp.keepHeads).toEqual(lp.keepKvHeads.flatMap((g) => Array.from({ length: rep }, (_, r) => g * rep + r)));
      });
      // the choice is not the criterion's
      expect(JSON.stringify(seq.plan.layers)).not.toEqual(JSON.stringify(byCriterion.plan.layers));
      const want = prunedWeights(m, config, hf, seq.plan, { reconstruction: seq.reconstruction! });
      const out = await pruneTo(m, { plan: seq.plan, outPath: join(tmp.dir, 'seq-fitsel', 'model.onnx'), reconstruction: seq.reconstruction! });
      await expectLogits(out.modelPath, config, want);
    } finally {
      seq.reconstruction?.dispose();
    }
  });
});

describe('sequential pruning of an fp16 model', () => {
  it('writes the patched weights and biases as fp16: block inputs follow the pruned reference forward', async () => {
    const t = await buildTinyLlama({ ...SHAPE, seed: 44 }, { dir: join(tmp.dir, 'fp16'), dtype: 'float16', kvCache: false });
    const m = await loadModelInput(t.onnxPath);
    const hf = (await loadHfWeightsFloat64(t.hfDir)).weights;
    const rows = rowsOf(6, 16, 7);
    const calibration: CalibrationSet = { rows, samples: 6, seqLen: 16, seed: 0, source: 'test rows' };
    const { scores } = await scoreModel(m, { calibration, ep: 'cpu' });
    const oneShot = planFromScores(scores, planModelShape(m.spec, ''), { ratio: 0.4 });
    const inputs: Float32Array[] = [];
    const seq = await sequentialPrune(m, calibration, { plan: oneShot, scores, ep: 'cpu' }, { onBlockInput: (l, hidden) => (inputs[l] = toFloat32(hidden[0]!)) });
    const acts: LayerActivations[] = [];
    referenceForward(t.config, prunedWeights(m, t.config, hf, seq.plan, { statistics: seq.statistics }), rows, { capture: (l, a) => (acts[l] = a) });
    const dense: LayerActivations[] = [];
    referenceForward(t.config, hf, rows, { capture: (l, a) => (dense[l] = a) });
    // one batch of 6 rows; fp16 weights and activations against float64: 1e-2 of the largest value (measured 4.9e-4; the dense inputs differ by 0.38)
    for (let l = 0; l < SHAPE.numLayers; l++) expect(worstRelative(inputs[l]!, acts[l]!.x), `block ${l}`).toBeLessThan(1e-2);
    // the pruned blocks' outputs, not the dense ones
    expect(worstRelative(inputs[2]!, dense[2]!.x)).toBeGreaterThan(3e-2);
  });
});

describe('a model that cannot run one block at a time', () => {
  it('is refused before any pass, naming the reason and the fix', async () => {
    const genai = await loadModelInput(fixtures.genai);
    expect(() => checkSequential(genai)).toThrow(/--sequential runs the model one block at a time, and this model cannot be scored block by block: block 1's attnContext .*: prune it without --sequential/);
  });
});

async function expectLogits(modelPath: string, config: LlamaConfig, weights: Map<string, Float64Array>): Promise<void> {
  const test = rowsOf(2, 10, 99);
  const want = referenceForward(config, weights, test);
  const session = await createSession(modelPath, { ep: 'cpu' });
  try {
    const b = makeTokenBatch(test);
    const res = await session.run({ input_ids: b.ids, attention_mask: b.attentionMask, position_ids: b.positionIds }, ['logits']);
    expect(worstRelative(toFloat32(res['logits']!), want)).toBeLessThan(1e-5);
  } finally {
    await session.release();
  }
}
