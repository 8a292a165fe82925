/**
 * fp16 numerics of scoring: the fp16 and fp32 exports of bip-llama-small (the same fp16 weights, so
 * the only difference is the fp16 activations of the fp16 graph) give the same statistics within the
 * fp16 rounding of activations, and the same plans. The probe casts fp16 taps to float32 before any
 * reduction and the host sums in float64, so what remains is the model's own fp16 arithmetic.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtures, shared, tempDir } from '@llm-bip/testing';
import { exportLlamaToOnnx, planModelShape, type PruningPlan } from '@llm-bip/model';
import { loadTokenizer } from '@llm-bip/eval';
import type { CalibrationSet } from '@llm-bip/scoring';
import { calibrate } from './calibrate.js';
import { loadModelInput } from './load.js';
import { planFromScores } from './plan.js';
import { scoreModel, type Scored } from './score.js';

const tmp = tempDir('fp16-numerics-');
afterAll(tmp.cleanup);

const planHash = (p: PruningPlan) => createHash('sha256').update(JSON.stringify(p.layers)).digest('hex').slice(0, 16);

describe('fp16 vs fp32 export of bip-llama-small: statistics and plans', () => {
  const scored: Record<'float32' | 'float16', Scored & { shape: ReturnType<typeof planModelShape> }> = {} as never;
  let calibration: CalibrationSet;
  beforeAll(async () => {
    calibration = await calibrate(loadTokenizer(fixtures.smallHf), { dataDir: shared('data'), samples: 64, seqLen: 128, seed: 0 });
    for (const dtype of ['float32', 'float16'] as const) {
      const onnx = join(tmp.dir, `${dtype}.onnx`);
      await exportLlamaToOnnx(fixtures.smallHf, onnx, { dtype, kvCache: false });
      const m = await loadModelInput(onnx);
      scored[dtype] = { ...(await scoreModel(m, { criterion: 'llm-bip', calibration, ep: 'cpu' })), shape: planModelShape(m.spec, 'sha256:test') };
    }
  }, 900_000);

  /**
   * Tolerance 1e-3 relative to each tap's largest value: one fp16 rounding is up to 2^-11 (4.9e-4)
   * relative, a few stack up through a block, and the sums over 8,192 calibration tokens average the
   * independent roundings down. Measured worst 2.2e-4 (median 2.1e-5; 1.8e-4 before the probe kept fp16 weights
   * unconverted on the CPU EP); 1e-3 is about two fp16 ulps.
   */
  it('every statistic agrees within 1e-3 relative to its tap\'s largest value', () => {
    const [a, b] = [scored.float16.statistics, scored.float32.statistics];
    expect(Object.keys(a.taps).sort()).toEqual(Object.keys(b.taps).sort());
    let worst = 0;
    let worstTap = '';
    const perTap: number[] = [];
    for (const [key, want] of Object.entries(b.taps)) {
      const got = a.taps[key]!;
      const scale = want.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      const err = got.reduce((m, v, i) => Math.max(m, Math.abs(v - want[i]!)), 0) / scale;
      perTap.push(err);
      if (err > worst) [worst, worstTap] = [err, key];
    }
    perTap.sort((x, y) => x - y);
    console.log(`[fp16] ${perTap.length} taps: median relative error ${perTap[perTap.length >> 1]!.toExponential(2)}, worst ${worst.toExponential(2)} (${worstTap})`);
    expect(worst).toBeLessThan(1e-3);
  });

  it('scores agree within 1e-3; unaligned plans at 20 % and 50 % are the same (equal plan hashes), aligned ones keep the same widths', () => {
    const [a, b] = [scored.float16.scores, scored.float32.scores];
    let worst = 0;
    for (const [l, layer] of b.layers.entries()) {
      for (const kind of ['channels', 'heads'] as const) {
        const want = layer[kind];
        if (!want) continue;
        const got = a.layers[l]![kind]!;
        const scale = want.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
        worst = Math.max(worst, got.reduce((m, v, i) => Math.max(m, Math.abs(v - want[i]!)), 0) / scale);
      }
    }
    console.log(`[fp16] scores: worst relative difference ${worst.toExponential(2)}`);
    expect(worst).toBeLessThan(1e-3); // measured 5.4e-5
    for (const ratio of [0.2, 0.5]) {
      // the numerics question: every channel and head kept alike
      const p16 = planFromScores(a, scored.float16.shape, { ratio, align: 1 });
      const p32 = planFromScores(b, scored.float32.shape, { ratio, align: 1 });
      const differing = p16.layers.flatMap((l, i) => {
        const m = p32.layers[i]!;
        return JSON.stringify(l) === JSON.stringify(m) ? [] : [i];
      });
      console.log(`[fp16] ratio ${ratio}, align 1: plan hash fp16 ${planHash(p16)}, fp32 ${planHash(p32)}; layers that differ: [${differing}]`);
      expect(planHash(p16)).toBe(planHash(p32));
      // the default (auto: 64 here, FFN 1,408): the same widths and heads in every layer; where a layer's
      // rounded cut falls on near-equal channel scores, fp16 may keep a different few of them
      const d16 = planFromScores(a, scored.float16.shape, { ratio });
      const d32 = planFromScores(b, scored.float32.shape, { ratio });
      expect(d16.notes!.align).toBe(64);
      const swapped = d16.layers.map((l, i) => {
        const m = d32.layers[i]!;
        expect(l.keepChannels.length).toBe(m.keepChannels.length);
        expect(l.keepHeads).toEqual(m.keepHeads);
        const kept = new Set(m.keepChannels);
        return l.keepChannels.filter((c) => !kept.has(c)).length;
      });
      console.log(`[fp16] ratio ${ratio}, align 64: channels kept by fp16 but not fp32, per layer: [${swapped}]`);
      for (const [i, n] of swapped.entries()) expect(n, `layer ${i}`).toBeLessThanOrEqual(Math.ceil(0.01 * d32.layers[i]!.keepChannels.length));
    }
  });
});
