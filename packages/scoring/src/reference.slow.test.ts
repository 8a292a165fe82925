/**
 * Spec by example: ../shared/reference holds the PyTorch prototype's statistics, scores and plans
 * for bip-llama-tiny on 16 x 128 fixed token ids. We export the model to fp32 ONNX, run our probe
 * on the same ids, and compare number by number (README: ~1e-3 relative; max-based L_t may differ
 * more only where a maximum is near-tied; plans equal except near-ties). The three exporter fixtures
 * of the same model (fp16 weights and activations) are scored too.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtures, tempDir } from '@llm-bip/testing';
import { loadModel } from '@llm-bip/onnx-io';
import { exportLlamaToOnnx, planModelShape, recogniseModel, validatePlan, type ModelSpec } from '@llm-bip/model';
import { worstRelative } from './direct-stats.testutil.js';
import { collectStatistics } from './probe/collect.js';
import { getCriterion, listCriteria } from './criteria/registry.js';
import { spectralNorms } from './spectral.js';
import { makePlan } from './allocation/plan.js';
import { compensationStats } from './statistics.js';
import { modelWeights, type WeightSource } from './weights.js';
import type { GroupScores, SpectralNorms, Statistics } from './types.js';

interface RefLayer {
  tokens: number;
  mean_block_output_norm: number;
  mean_L_t: number;
  llm_bip_head: number[];
  head_direct_norm: number[];
  llm_bip_ffn: number[];
  wanda_sp_head: number[];
  wanda_sp_ffn: number[];
  flap_attn_channel: number[];
  flap_ffn: number[];
  o_proj_input_mean: number[];
  down_proj_input_mean: number[];
}
interface Ref {
  calibration: { input_ids: number[][] };
  spectral_norms: Array<{ down: number; gate: number; up: number; gmax: number }>;
  layers: RefLayer[];
  plans: Record<string, Record<string, { heads_kept: number[][]; channels_removed: number[][] }>>;
}

const ref = JSON.parse(readFileSync(fixtures.scoresReference, 'utf8')) as Ref;
const tmp = tempDir('scoring-reference-');
afterAll(tmp.cleanup);

let spec: ModelSpec;
let stats: Statistics;
let weights: WeightSource;
let norms: SpectralNorms;
const scores: Record<string, GroupScores> = {};

beforeAll(async () => {
  const onnxPath = join(tmp.dir, 'tiny.onnx');
  await exportLlamaToOnnx(fixtures.tinyHf, onnxPath, { dtype: 'float32', kvCache: false });
  const loaded = await loadModel(onnxPath);
  spec = recogniseModel(loaded.model);
  weights = modelWeights(loaded.model, loaded.dir);
  const taps = listCriteria().flatMap((c) => c.taps(spec));
  stats = await collectStatistics({ modelPath: onnxPath, spec, taps, rows: ref.calibration.input_ids, batchSize: 8, ep: 'cpu' });
  norms = await spectralNorms(spec, weights);
  for (const name of ['llm-bip', 'wanda-sp', 'flap']) scores[name] = await getCriterion(name).score(stats, weights, spec, { spectralNorms: norms });
}, 300_000);

describe('reference scores for bip-llama-tiny', () => {
  it('counts every position and has the reference spectral norms', () => {
    expect(stats.tokens).toBe(ref.layers[0]!.tokens);
    norms.layers.forEach((n, l) => {
      const r = ref.spectral_norms[l]!;
      expect(worstRelative([n.down, n.gate, n.up, n.gmax], [r.down, r.gate, r.up, r.gmax])).toBeLessThan(1e-6);
    });
  });

  it('llm-bip FFN, direct head norms, block output norms and compensation means match to 1e-3', () => {
    const comp = compensationStats(stats, spec);
    ref.layers.forEach((r, l) => {
      const s = scores['llm-bip']!.layers[l]!;
      expect(worstRelative(s.channels!, r.llm_bip_ffn), `ffn ${l}`).toBeLessThan(1e-4);
      expect(worstRelative(s.details!.headDirectNorm as number[], r.head_direct_norm), `direct ${l}`).toBeLessThan(1e-4);
      expect(Math.abs(s.blockOutputNorm! / r.mean_block_output_norm - 1)).toBeLessThan(1e-4);
      expect(worstRelative(comp.layers[l]!.oProjInputMean, r.o_proj_input_mean, 1e-2), `o mean ${l}`).toBeLessThan(1e-4);
      expect(worstRelative(comp.layers[l]!.downProjInputMean, r.down_proj_input_mean, 1e-2), `down mean ${l}`).toBeLessThan(1e-4);
    });
  });

  it('llm-bip head scores and mean L_t match (max-based: 1e-3 unless a maximum is near-tied)', () => {
    ref.layers.forEach((r, l) => {
      const s = scores['llm-bip']!.layers[l]!;
      expect(Math.abs((s.details!.meanLipschitz as number) / r.mean_L_t - 1), `L_t ${l}`).toBeLessThan(1e-4);
      expect(worstRelative(s.heads!, r.llm_bip_head), `head ${l}`).toBeLessThan(1e-4);
    });
  });

  it('wanda-sp and flap match', () => {
    ref.layers.forEach((r, l) => {
      expect(worstRelative(scores['wanda-sp']!.layers[l]!.heads!, r.wanda_sp_head), `wanda head ${l}`).toBeLessThan(1e-4);
      expect(worstRelative(scores['wanda-sp']!.layers[l]!.channels!, r.wanda_sp_ffn), `wanda ffn ${l}`).toBeLessThan(1e-4);
      const d = scores.flap!.layers[l]!.details!;
      // a variance (mean of squares minus squared mean) in float32 activations: relative to 1% of the layer's largest
      expect(worstRelative(d.fluctuationAttnChannel as number[], r.flap_attn_channel, 1e-2), `flap attn ${l}`).toBeLessThan(1e-4);
      expect(worstRelative(d.fluctuationFfn as number[], r.flap_ffn, 1e-2), `flap ffn ${l}`).toBeLessThan(1e-4);
    });
  });

  for (const ratio of ['0.2', '0.5']) {
    for (const mode of ['global-kind', 'uniform'] as const) {
      it(`plan llm-bip/${mode} at ${ratio} equals the reference except near-ties`, () => {
        const plan = makePlan(scores['llm-bip']!, planModelShape(spec, 'test'), { ratio: Number(ratio), allocation: mode, minKeep: 0 });
        validatePlan(plan, spec);
        const want = ref.plans[ratio]![`llm-bip/${mode}`]!;
        const rel = (l: number, kind: 'head' | 'ffn', i: number) =>
          (kind === 'head' ? ref.layers[l]!.llm_bip_head[i]! : ref.layers[l]!.llm_bip_ffn[i]!) / (mode === 'uniform' ? 1 : ref.layers[l]!.mean_block_output_norm);
        // the reference's threshold: the largest removed relative score; a disagreement must be within 2e-3 of it
        const check = (kind: 'head' | 'ffn', ours: boolean[][], theirs: boolean[][]) => {
          for (let l = 0; l < ours.length; l++) {
            const removedRef = theirs[l]!.flatMap((r, i) => (r ? [rel(l, kind, i)] : []));
            const keptRef = theirs[l]!.flatMap((r, i) => (r ? [] : [rel(l, kind, i)]));
            ours[l]!.forEach((r, i) => {
              if (r === theirs[l]![i]) return;
              const v = rel(l, kind, i);
              const boundary = r ? Math.min(...keptRef) : Math.max(...removedRef);
              expect(Math.abs(v / boundary - 1), `${kind} ${l}/${i} differs and is not a near-tie`).toBeLessThan(2e-3);
            });
          }
        };
        const H = 8;
        const I = 704;
        check('head', plan.layers.map((lp) => Array.from({ length: H }, (_, h) => !lp.keepHeads.includes(h))), want.heads_kept.map((k) => Array.from({ length: H }, (_, h) => !k.includes(h))));
        check('ffn', plan.layers.map((lp) => Array.from({ length: I }, (_, k) => !lp.keepChannels.includes(k))), want.channels_removed.map((r) => Array.from({ length: I }, (_, k) => r.includes(k))));
      });
    }
  }
});

describe('reference scores from the exporter fixtures (fp16 TorchScript, dynamo, genai builder)', () => {
  for (const [name, path] of [
    ['torchscript', fixtures.torchscript],
    ['dynamo', fixtures.dynamo],
    ['genai', fixtures.genai],
  ] as const) {
    it(`${name}: llm-bip, wanda-sp and flap match to 2e-3 (fp16 activations)`, async () => {
      const loaded = await loadModel(path);
      const fspec = recogniseModel(loaded.model);
      const fweights = modelWeights(loaded.model, loaded.dir);
      const taps = ['llm-bip', 'wanda-sp', 'flap'].flatMap((c) => getCriterion(c).taps(fspec));
      const fstats = await collectStatistics({ modelPath: path, spec: fspec, taps, rows: ref.calibration.input_ids, batchSize: 8, ep: 'cpu' });
      const bip = await getCriterion('llm-bip').score(fstats, fweights, fspec, { spectralNorms: norms });
      const wanda = await getCriterion('wanda-sp').score(fstats, fweights, fspec);
      const flap = await getCriterion('flap').score(fstats, fweights, fspec);
      ref.layers.forEach((r, l) => {
        expect(worstRelative(bip.layers[l]!.channels!, r.llm_bip_ffn), `ffn ${l}`).toBeLessThan(2e-3);
        expect(worstRelative(bip.layers[l]!.heads!, r.llm_bip_head), `head ${l}`).toBeLessThan(2e-3);
        expect(worstRelative(wanda.layers[l]!.channels!, r.wanda_sp_ffn), `wanda ${l}`).toBeLessThan(2e-3);
        expect(worstRelative(wanda.layers[l]!.heads!, r.wanda_sp_head), `wanda head ${l}`).toBeLessThan(2e-3);
        expect(worstRelative(flap.layers[l]!.details!.fluctuationFfn as number[], r.flap_ffn, 1e-2), `flap ${l}`).toBeLessThan(2e-3);
      });
    }, 120_000);

    it(`${name}: magnitude scores equal the fp32 export's (the same fp16 weights, whatever the layout: fused qkv, transposed)`, async () => {
      const loaded = await loadModel(path);
      const fspec = recogniseModel(loaded.model);
      const empty = { ...stats, taps: {}, tokens: 0 };
      const ours = await getCriterion('magnitude').score(empty, modelWeights(loaded.model, loaded.dir), fspec);
      const want = await getCriterion('magnitude').score(empty, weights, spec);
      ours.layers.forEach((l, i) => {
        expect(worstRelative(l.heads!, want.layers[i]!.heads!)).toBeLessThan(1e-6);
        expect(worstRelative(l.channels!, want.layers[i]!.channels!)).toBeLessThan(1e-6);
      });
    });
  }
});
