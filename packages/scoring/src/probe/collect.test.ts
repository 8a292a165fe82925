import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '@llm-bip/testing';
import { collectStatistics } from './collect.js';
import { captureAll, probeTinyCases, tokenRows, type TinyCase } from '../tiny-models.testutil.js';
import { directStats, worstRelative } from '../direct-stats.testutil.js';
import { listCriteria } from '../criteria/registry.js';
import { baseTaps, uniqueTaps } from '../statistics.js';
import { tapKey, type Statistics, type Tap, type TapTensor } from '../types.js';

const tmp = tempDir('scoring-probe-');
afterAll(tmp.cleanup);

/** every criterion's taps, plus max/sumAbs/sumSquares of every tensor */
function allTaps(c: TinyCase): Tap[] {
  const tensors: TapTensor[] = ['attnContext', 'ffnAct', 'residualMid', 'gateOut', 'upOut', 'output'];
  const extra = c.spec.layers.flatMap((l) => tensors.flatMap((tensor) => (['max', 'sumAbs', 'sumSquares', 'sum'] as const).map((reduction) => ({ layer: l.index, tensor, reduction }))));
  return uniqueTaps([...baseTaps(c.spec), ...listCriteria().flatMap((k) => k.taps(c.spec)), ...extra]);
}

describe('probe statistics equal a float64 computation from the reference forward', () => {
  const cases: TinyCase[] = [];
  const rows = tokenRows(5, 12, 64, 11);
  beforeAll(async () => {
    cases.push(...(await probeTinyCases(tmp.dir)));
  });

  it('for every tap kind, on MHA, GQA with KV cache and fp16 models', async () => {
    for (const c of cases) {
      const taps = allTaps(c);
      const stats = await collectStatistics({ modelPath: c.onnxPath, spec: c.spec, taps, rows, batchSize: 2, ep: 'cpu' });
      expect(stats.tokens).toBe(60);
      const want = directStats(c.spec, c.weights, captureAll(c, rows), taps);
      // fp32 forward vs float64 reference: ~1e-6; fp16 activations: ~1e-3
      // (relative to each value, with a floor of 1e-3 (fp16: 1e-2) of the vector's largest value for sums that cancel)
      const [tol, floor] = c.name === 'fp16' ? [2e-2, 1e-2] : [1e-4, 1e-3];
      for (const t of taps) {
        const k = tapKey(t);
        expect(stats.taps[k], k).toBeDefined();
        expect(worstRelative(stats.taps[k]!, want[k]!, floor), `${c.name} ${k}`).toBeLessThan(tol);
      }
    }
  });

  // The host sums rows in float64 in row order (exact across splits: statistics.test.ts). What is left is
  // ORT's float32 forward itself, whose kernels may round differently for another batch size.
  it('gives the same statistics whatever the batch split, to float32 forward rounding', async () => {
    const c = cases[1]!;
    const taps = allTaps(c);
    const runs: Statistics[] = [];
    for (const batchSize of [1, 2, 5]) runs.push(await collectStatistics({ modelPath: c.onnxPath, spec: c.spec, taps, rows, batchSize, ep: 'cpu' }));
    for (const r of runs.slice(1)) {
      for (const t of taps) {
        const k = tapKey(t);
        expect(worstRelative(r.taps[k]!, runs[0]!.taps[k]!, 1e-3), k).toBeLessThan(1e-4);
      }
      expect(r.tokens).toBe(runs[0]!.tokens);
    }
  });
});
