import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '@llm-bip/testing';
import { collectInputMoments } from './collect.js';
import { captureAll, probeTinyCases, tokenRows, type TinyCase } from '../tiny-models.testutil.js';
import { worstRelative } from '../direct-stats.testutil.js';

const tmp = tempDir('scoring-moments-');
afterAll(tmp.cleanup);

/** Σ_t x xᵀ and Σ_t x of o_proj's input z and down_proj's input s, in float64 from the reference forward. */
function referenceMoments(c: TinyCase, rows: number[][]) {
  return captureAll(c, rows).map((a, layer) => {
    const of = (x: Float64Array) => {
      const n = x.length / (rows.length * rows[0]!.length);
      const gram = new Float64Array(n * n);
      const sum = new Float64Array(n);
      for (let t = 0; t < x.length / n; t++) {
        for (let i = 0; i < n; i++) {
          sum[i]! += x[t * n + i]!;
          for (let j = 0; j < n; j++) gram[i * n + j]! += x[t * n + i]! * x[t * n + j]!;
        }
      }
      return { gram, sum };
    };
    return { layer, attnContext: of(a.z), ffnAct: of(a.s) };
  });
}

describe('collectInputMoments: the probe Grams equal a float64 computation from the reference forward', () => {
  const cases: TinyCase[] = [];
  const rows = tokenRows(6, 12, 64, 5);
  beforeAll(async () => {
    cases.push(...(await probeTinyCases(tmp.dir)));
  });

  it('for o_proj and down_proj inputs of every layer, MHA, GQA with KV cache and fp16; held-out rows apart', async () => {
    for (const c of cases) {
      const got = await collectInputMoments({ modelPath: c.onnxPath, spec: c.spec, rows, batchSize: 4, holdoutRows: 2, ep: 'cpu' });
      expect(got.map((g) => `${g.layer}.${g.tensor}`)).toEqual(['0.attnContext', '0.ffnAct', '1.attnContext', '1.ffnAct']);
      const train = referenceMoments(c, rows.slice(0, 4));
      const hold = referenceMoments(c, rows.slice(4));
      // fp32 forward and fp32 graph sums vs float64: the Gram and the sum within 1e-5 relative in norm
      // (measured ~3e-7), every entry within 1e-4 of itself plus 1e-3 of the largest (entries that cancel
      // carry the forward's own rounding, measured up to 4.6e-5); fp16 activations: 2e-3 and 2e-2 (measured 7e-4, 1.5e-2)
      const [fro, tol, floor] = c.name === 'fp16' ? [2e-3, 2e-2, 1e-2] : [1e-5, 1e-4, 1e-3];
      for (const g of got) {
        const want = [train, hold].map((r) => r[g.layer]![g.tensor]);
        expect(g.train.tokens).toBe(48);
        expect(g.holdout!.tokens).toBe(24);
        expect(g.width).toBe(g.tensor === 'attnContext' ? c.spec.layers[0]!.numHeads * c.spec.layers[0]!.headDim : c.spec.layers[0]!.intermediateSize);
        expect(frobenius(g.train.gram, want[0]!.gram), `${c.name} ${g.layer} ${g.tensor} train gram`).toBeLessThan(fro);
        expect(frobenius(g.holdout!.gram, want[1]!.gram), `${c.name} ${g.layer} ${g.tensor} held-out gram`).toBeLessThan(fro);
        expect(worstRelative(g.train.gram, want[0]!.gram, floor), `${c.name} ${g.layer} ${g.tensor} train gram`).toBeLessThan(tol);
        expect(frobenius(g.train.sum, want[0]!.sum), `${c.name} ${g.layer} ${g.tensor} train sum`).toBeLessThan(fro);
        expect(worstRelative(g.holdout!.gram, want[1]!.gram, floor), `${c.name} ${g.layer} ${g.tensor} held-out gram`).toBeLessThan(tol);
        expect(frobenius(g.holdout!.sum, want[1]!.sum), `${c.name} ${g.layer} ${g.tensor} held-out sum`).toBeLessThan(fro);
      }
    }
  });

  it('collects only the asked layers, without a holdout, and refuses a holdout of every row', async () => {
    const c = cases[0]!;
    const got = await collectInputMoments({ modelPath: c.onnxPath, spec: c.spec, rows, moments: [{ layer: 1, tensor: 'ffnAct' }], batchSize: 6, ep: 'cpu' });
    expect(got).toHaveLength(1);
    expect(got[0]!.holdout).toBeUndefined();
    expect(got[0]!.train.tokens).toBe(72);
    expect(frobenius(got[0]!.train.gram, referenceMoments(c, rows)[1]!.ffnAct.gram)).toBeLessThan(1e-5);
    await expect(collectInputMoments({ modelPath: c.onnxPath, spec: c.spec, rows, holdoutRows: 6, ep: 'cpu' })).rejects.toThrow(/at least one row must remain/);
  });

  it('block by block (one and two blocks per session) gives the moments of the whole run, held-out rows apart', async () => {
    for (const c of cases.slice(0, 2)) {
      const whole = await collectInputMoments({ modelPath: c.onnxPath, spec: c.spec, rows, batchSize: 4, holdoutRows: 2, ep: 'cpu' });
      for (const blocksPerSession of [1, 2]) {
        const schedules: string[] = [];
        let last = 0;
        const got = await collectInputMoments({
          modelPath: c.onnxPath,
          spec: c.spec,
          rows,
          batchSize: 4,
          holdoutRows: 2,
          ep: 'cpu',
          blocksPerSession,
          onSchedule: (s) => schedules.push(s.mode),
          onProgress: (done, total) => (last = done / total),
        });
        expect(schedules).toEqual(['blockwise']);
        expect(last).toBe(1);
        expect(got.map((g) => `${g.layer}.${g.tensor}`)).toEqual(whole.map((g) => `${g.layer}.${g.tensor}`));
        for (const [i, g] of got.entries()) {
          const w = whole[i]!;
          expect(g.train.tokens).toBe(w.train.tokens);
          expect(g.holdout!.tokens).toBe(w.holdout!.tokens);
          // the same float32 graph sums, cut at block boundaries: equal up to ORT's kernel choice (measured 0)
          expect(frobenius(g.train.gram, w.train.gram), `${c.name} ${g.layer} ${g.tensor} ${blocksPerSession}`).toBeLessThan(1e-6);
          expect(frobenius(g.holdout!.gram, w.holdout!.gram)).toBeLessThan(1e-6);
          expect(frobenius(g.train.sum, w.train.sum)).toBeLessThan(1e-6);
        }
      }
    }
  });
});

/** ‖a − b‖_F / ‖b‖_F */
function frobenius(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  let n = 0;
  for (let i = 0; i < b.length; i++) {
    d += (a[i]! - b[i]!) ** 2;
    n += b[i]! ** 2;
  }
  return Math.sqrt(d / n);
}
