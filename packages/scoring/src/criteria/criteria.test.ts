import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maxAbsDiff, tempDir, type LayerActivations } from '@llm-bip/testing';
import { loadModel } from '@llm-bip/onnx-io';
import { hfNames, planModelShape } from '@llm-bip/model';
import { makePlan } from '../allocation/plan.js';
import { captureAll, tinyCase, tokenRows, type TinyCase } from '../tiny-models.testutil.js';
import { blockChange, headGroupBound, mean, mlpLipschitz, perToken, worstRelative, zeroChannel, zeroHeadGroup } from '../direct-stats.testutil.js';
import { collectStatistics } from '../probe/collect.js';
import { spectralNorms } from '../spectral.js';
import { modelWeights, type WeightSource } from '../weights.js';
import { getCriterion, listCriteria, registerCriterion } from './registry.js';
import type { Statistics } from '../types.js';

const tmp = tempDir('scoring-criteria-');
afterAll(tmp.cleanup);

interface Prepared extends TinyCase {
  rows: number[][];
  acts: LayerActivations[];
  stats: Statistics;
  weightSource: WeightSource;
}

async function prepare(name: string, seed: number, kv: number, rowsSeed: number): Promise<Prepared> {
  const c = await tinyCase(tmp.dir, name, { seed, hiddenSize: 32, numLayers: 2, numHeads: 4, numKvHeads: kv, intermediateSize: 40, vocabSize: 64 });
  const rows = tokenRows(4, 10, 64, rowsSeed);
  const taps = listCriteria().flatMap((k) => k.taps(c.spec));
  const stats = await collectStatistics({ modelPath: c.onnxPath, spec: c.spec, taps, rows, ep: 'cpu' });
  const loaded = await loadModel(c.onnxPath);
  return { ...c, rows, acts: captureAll(c, rows), stats, weightSource: modelWeights(loaded.model, loaded.dir) };
}

describe('criteria on tiny random models', () => {
  const cases: Prepared[] = [];
  beforeAll(async () => {
    cases.push(await prepare('mha-a', 21, 4, 1), await prepare('mha-b', 22, 4, 2), await prepare('gqa-a', 23, 2, 3), await prepare('gqa-b', 24, 1, 4));
  });

  it('llm-bip FFN score = measured block-output change when the channel is zeroed', async () => {
    for (const c of cases.slice(0, 2)) {
      const scores = await getCriterion('llm-bip').score(c.stats, c.weightSource, c.spec);
      for (const l of [0, 1]) {
        const I = c.spec.layers[l]!.intermediateSize;
        const measured = Array.from({ length: I }, (_, k) => mean(blockChange(c, l, zeroChannel(c.spec, l, k))));
        expect(worstRelative(scores.layers[l]!.channels!, measured, 0), `${c.name} layer ${l}`).toBeLessThan(1e-4);
      }
    }
  });

  it('llm-bip reads each W_down once (its column norms are taken during the spectral norms), with the same scores as from given norms', async () => {
    const c = cases[2]!;
    const reads = new Map<string, number>();
    const counting: WeightSource = {
      ...c.weightSource,
      linear: (ref) => {
        reads.set(ref.weight, (reads.get(ref.weight) ?? 0) + 1);
        return c.weightSource.linear(ref);
      },
    };
    const computed = await getCriterion('llm-bip').score(c.stats, counting, c.spec);
    for (const l of c.spec.layers) expect(reads.get(l.down.weight), `layer ${l.index} down`).toBe(1);
    reads.clear();
    const given = await getCriterion('llm-bip').score(c.stats, counting, c.spec, { spectralNorms: computed.options!.spectralNorms });
    for (const l of c.spec.layers) expect(reads.get(l.down.weight), `layer ${l.index} down, norms given`).toBe(1);
    expect(given.layers).toEqual(computed.layers);
  });

  it('llm-bip with a compute site takes ||W_down[:,k]|| on the EP from the stored weights (no W_down read in JS): channel scores within 2(n-1)u of the JS path, heads and plans identical', async () => {
    for (const c of [cases[0]!, cases[2]!]) {
      const loaded = await loadModel(c.onnxPath);
      const reads = new Set<string>();
      const counting: WeightSource = { ...c.weightSource, linear: (ref) => (reads.add(ref.weight), c.weightSource.linear(ref)) };
      const jsPath = await getCriterion('llm-bip').score(c.stats, c.weightSource, c.spec);
      const norms = jsPath.options!.spectralNorms;
      const onEp = await getCriterion('llm-bip').score(c.stats, counting, c.spec, { spectralNorms: norms }, { compute: { model: loaded, ep: 'cpu' } });
      for (const l of c.spec.layers) expect(reads.has(l.down.weight), `${c.name} layer ${l.index} down read in JS`).toBe(false);
      onEp.layers.forEach((l, i) => {
        const want = jsPath.layers[i]!;
        expect(l.heads).toEqual(want.heads);
        // sqrt halves the sums' relative difference (2(n-1)u, n = hidden); the product with mean |s| adds one rounding
        l.channels!.forEach((v, k) => expect(Math.abs(v - want.channels![k]!), `${c.name} layer ${l.layer} channel ${k}`).toBeLessThanOrEqual(((c.spec.hiddenSize - 1) * 2 ** -53 + 2 ** -52) * Math.abs(want.channels![k]!)));
      });
      const shape = planModelShape(c.spec, '');
      for (const allocation of ['uniform', 'global-kind', 'global'] as const) {
        const plan = (s: typeof onEp) => ({ ...makePlan(s, shape, { ratio: 0.3, allocation }), createdAt: '' });
        expect(plan(onEp)).toEqual(plan(jsPath));
      }
    }
  });

  it('llm-bip head bound >= measured block-output change for every head group and token', async () => {
    for (const c of cases) {
      const norms = await spectralNorms(c.spec, c.weightSource);
      const scores = await getCriterion('llm-bip').score(c.stats, c.weightSource, c.spec, { spectralNorms: norms });
      for (const l of [0, 1]) {
        const { numHeads: H, numKvHeads: KV } = c.spec.layers[l]!;
        const p = perToken(c.spec, c.weights, l, c.acts[l]!);
        const L = mlpLipschitz(p, norms.layers[l]!);
        for (let g = 0; g < KV; g++) {
          const change = blockChange(c, l, zeroHeadGroup(c.spec, l, g));
          const bound = headGroupBound(p, L, g, H / KV);
          for (let t = 0; t < p.N; t++) expect(bound[t]!, `${c.name} layer ${l} group ${g} token ${t}`).toBeGreaterThanOrEqual(change[t]!);
          // and the probe's score is this bound's mean
          expect(Math.abs(scores.layers[l]!.heads![g]! / mean(bound) - 1), `${c.name} score ${l}/${g}`).toBeLessThan(1e-4);
        }
        expect(Math.abs((scores.layers[l]!.details!.meanLipschitz as number) / mean(L) - 1)).toBeLessThan(1e-4);
      }
    }
  });

  it('llm-bip ablations: direct head term, and FFN term only', async () => {
    const c = cases[2]!;
    const direct = await getCriterion('llm-bip').score(c.stats, c.weightSource, c.spec, { headTerm: 'direct' });
    const none = await getCriterion('llm-bip').score(c.stats, c.weightSource, c.spec, { headTerm: 'none' });
    for (const l of [0, 1]) {
      const p = perToken(c.spec, c.weights, l, c.acts[l]!);
      const rep = c.spec.layers[l]!.numHeads / c.spec.layers[l]!.numKvHeads;
      const want = Array.from({ length: c.spec.layers[l]!.numKvHeads }, (_, g) => p.n.slice(g * rep, (g + 1) * rep).reduce((s, nh) => s + mean(nh), 0));
      expect(worstRelative(direct.layers[l]!.heads!, want)).toBeLessThan(1e-4);
      expect(none.layers[l]!.heads).toBeNull();
      expect(none.layers[l]!.channels).toEqual(direct.layers[l]!.channels);
    }
  });

  it('wanda-sp and flap equal a direct float64 computation from the activations', async () => {
    for (const c of cases) {
      const wanda = await getCriterion('wanda-sp').score(c.stats, c.weightSource, c.spec);
      const flap = await getCriterion('flap').score(c.stats, c.weightSource, c.spec);
      for (const l of [0, 1]) {
        const { numHeads: H, numKvHeads: KV, headDim: D, intermediateSize: I } = c.spec.layers[l]!;
        const hid = c.spec.hiddenSize;
        const a = c.acts[l]!;
        const N = a.x.length / hid;
        // per input channel j of W (HF [out, in]) with inputs x [N, in]
        const perInput = (w: Float64Array, x: Float64Array, width: number) =>
          Array.from({ length: width }, (_, j) => {
            let meanAbsW = 0;
            let sqW = 0;
            for (let i = 0; i < hid; i++) {
              meanAbsW += Math.abs(w[i * width + j]!) / hid;
              sqW += w[i * width + j]! ** 2;
            }
            let s = 0;
            let ss = 0;
            for (let t = 0; t < N; t++) {
              s += x[t * width + j]!;
              ss += x[t * width + j]! ** 2;
            }
            return { wanda: meanAbsW * Math.sqrt(ss / N), fluct: (ss / N - (s / N) ** 2) * sqW };
          });
        const attn = perInput(c.weights.get(hfNames.o(l))!, a.z, H * D);
        const ffn = perInput(c.weights.get(hfNames.down(l))!, a.s, I);
        const groupW = (H / KV) * D;
        const wandaHeads = Array.from({ length: KV }, (_, g) => attn.slice(g * groupW, (g + 1) * groupW).reduce((s, e) => s + e.wanda, 0));
        expect(worstRelative(wanda.layers[l]!.heads!, wandaHeads), `${c.name} wanda heads`).toBeLessThan(1e-4);
        expect(worstRelative(wanda.layers[l]!.channels!, ffn.map((e) => e.wanda)), `${c.name} wanda channels`).toBeLessThan(1e-4);
        const fa = attn.map((e) => e.fluct ** 2);
        const ff = ffn.map((e) => e.fluct);
        // fluctuation is a variance: mean of squares minus squared mean, which cancels; compare with a floor
        expect(worstRelative(flap.layers[l]!.details!.fluctuationAttnChannel as number[], fa, 1e-2), `${c.name} flap attn`).toBeLessThan(1e-3);
        expect(worstRelative(flap.layers[l]!.details!.fluctuationFfn as number[], ff, 1e-2), `${c.name} flap ffn`).toBeLessThan(1e-3);
        const std = (x: number[]) => {
          const m = mean(x);
          const sd = Math.sqrt(x.reduce((s, e) => s + (e - m) ** 2, 0) / (x.length - 1));
          return x.map((e) => (e - m) / sd);
        };
        const faStd = std(fa);
        // standardised scores are O(1): compare absolutely (one KV group standardises to a mean of ~0)
        expect(maxAbsDiff(flap.layers[l]!.channels!, std(ff))).toBeLessThan(1e-3);
        expect(maxAbsDiff(flap.layers[l]!.heads!, Array.from({ length: KV }, (_, g) => mean(faStd.slice(g * groupW, (g + 1) * groupW))))).toBeLessThan(1e-3);
      }
      expect(flap.defaultAllocation).toBe('al-am');
    }
  });

  it('magnitude is the L2 norm of each group\'s weights; random is seeded', async () => {
    const c = cases[2]!;
    const mag = await getCriterion('magnitude').score(c.stats, c.weightSource, c.spec);
    const l = 1;
    const { numHeads: H, numKvHeads: KV, headDim: D, intermediateSize: I } = c.spec.layers[l]!;
    const hid = c.spec.hiddenSize;
    const rows = (w: Float64Array, from: number, to: number, width: number) => {
      let s = 0;
      for (let r = from; r < to; r++) for (let i = 0; i < width; i++) s += w[r * width + i]! ** 2;
      return s;
    };
    const cols = (w: Float64Array, from: number, to: number, width: number, height: number) => {
      let s = 0;
      for (let r = 0; r < height; r++) for (let j = from; j < to; j++) s += w[r * width + j]! ** 2;
      return s;
    };
    const W = (n: (i: number) => string) => c.weights.get(n(l))!;
    const rep = H / KV;
    const heads = Array.from({ length: KV }, (_, g) =>
      Math.sqrt(rows(W(hfNames.q), g * rep * D, (g + 1) * rep * D, hid) + rows(W(hfNames.k), g * D, (g + 1) * D, hid) + rows(W(hfNames.v), g * D, (g + 1) * D, hid) + cols(W(hfNames.o), g * rep * D, (g + 1) * rep * D, H * D, hid)),
    );
    const channels = Array.from({ length: I }, (_, k) => Math.sqrt(rows(W(hfNames.gate), k, k + 1, hid) + rows(W(hfNames.up), k, k + 1, hid) + cols(W(hfNames.down), k, k + 1, I, hid)));
    expect(worstRelative(mag.layers[l]!.heads!, heads)).toBeLessThan(1e-6);
    expect(worstRelative(mag.layers[l]!.channels!, channels)).toBeLessThan(1e-6);

    const r1 = await getCriterion('random').score(c.stats, c.weightSource, c.spec, { seed: 5 });
    const r2 = await getCriterion('random').score(c.stats, c.weightSource, c.spec, { seed: 5 });
    const r3 = await getCriterion('random').score(c.stats, c.weightSource, c.spec, { seed: 6 });
    expect(r1).toEqual(r2);
    expect(r1.layers[0]!.channels).not.toEqual(r3.layers[0]!.channels);
  });

  it('registry: lists the five criteria, refuses duplicates and unknown names', () => {
    expect(listCriteria().map((c) => c.name)).toEqual(['llm-bip', 'wanda-sp', 'flap', 'magnitude', 'random']);
    expect(() => registerCriterion(getCriterion('random'))).toThrow(/already registered/);
    expect(() => getCriterion('taylor')).toThrow(/unknown criterion "taylor": choose one of llm-bip/);
  });
});
