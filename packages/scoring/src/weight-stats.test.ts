import { afterAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { tempDir } from '@llm-bip/testing';
import { DataType, loadModel, makeTensor, float32ToFloat16, float16ToFloat32, type LoadedModel, type ModelProto } from '@llm-bip/onnx-io';
import { hfNames, type LinearRef, type ModelSpec } from '@llm-bip/model';
import { hostHeadGram } from './probe/head-gram.js';
import { mulberry32 } from './rng.js';
import { tinyCase } from './tiny-models.testutil.js';
import { weightStatistics, type WeightStat } from './weight-stats.js';
import { modelWeights } from './weights.js';

const tmp = tempDir('scoring-weight-stats-');
afterAll(tmp.cleanup);

/** Unit roundoff of float64: a sum of n non-negative exact terms in any order is within (n-1)u of the exact sum, relatively. */
const U = 2 ** -53;

function expectSquares(got: Float64Array, want: Float64Array, terms: number, what: string): void {
  expect(got.length, what).toBe(want.length);
  // both sides sum exact squares in float64 in different orders: each within (n-1)u of the exact sum
  got.forEach((g, i) => expect(Math.abs(g - want[i]!), `${what} input ${i}`).toBeLessThanOrEqual(2 * (terms - 1) * U * want[i]!));
}

function statsFor(spec: ModelSpec): WeightStat[] {
  return spec.layers.flatMap((l): WeightStat[] => [
    { layer: l.index, kind: 'headGram' },
    { layer: l.index, kind: 'inputSquares', projection: 'down' },
    { layer: l.index, kind: 'inputSquares', projection: 'o' },
  ]);
}

describe('weight statistics on the scoring EP (CPU EP here)', () => {
  for (const dtype of ['float32', 'float16'] as const) {
    it(`${dtype} export: head Grams bit for bit the JavaScript float64 reference; W_down / W_o input squares within 2(n-1)u of a float64 sum of the HF weights`, async () => {
      const c = await tinyCase(tmp.dir, `tiny-${dtype}`, { seed: 7, hiddenSize: 48, numLayers: 3, numHeads: 4, numKvHeads: 2, intermediateSize: 40, vocabSize: 64 }, dtype, true);
      const loaded = await loadModel(c.onnxPath);
      const weights = modelWeights(loaded.model, loaded.dir);
      const lines: string[] = [];
      const stats = await weightStatistics(c.spec, { model: loaded, ep: 'cpu' }, statsFor(c.spec), { onLog: (l) => lines.push(l) });
      expect(lines.some((l) => l.startsWith('weight statistics: '))).toBe(true);
      for (const l of c.spec.layers) {
        expect(stats.headGram(l.index)).toEqual(await hostHeadGram(l, weights));
        // independent: HF [out, in] as float64 (upcast from the stored type)
        const hfSquares = (name: string, inF: number) => {
          const w = c.weights.get(name)!;
          const out = w.length / inF;
          return Float64Array.from({ length: inF }, (_, k) => {
            let s = 0;
            for (let o = 0; o < out; o++) s += w[o * inF + k]! ** 2;
            return s;
          });
        };
        expectSquares(stats.inputSquares(l.index, 'down'), hfSquares(hfNames.down(l.index), l.intermediateSize), c.spec.hiddenSize, `layer ${l.index} down`);
        expectSquares(stats.inputSquares(l.index, 'o'), hfSquares(hfNames.o(l.index), l.numHeads * l.headDim), c.spec.hiddenSize, `layer ${l.index} o`);
      }
    });
  }

  it('a memory budget splits the layers into sessions with the same values; one below a single statistic is refused before any session', async () => {
    const c = await tinyCase(tmp.dir, 'budget', { seed: 9, hiddenSize: 32, numLayers: 4, numHeads: 4, numKvHeads: 4, intermediateSize: 48, vocabSize: 64 }, 'float16');
    const loaded = await loadModel(c.onnxPath);
    const one = await weightStatistics(c.spec, { model: loaded, ep: 'cpu' }, statsFor(c.spec));
    const lines: string[] = [];
    // a layer's stored W_o + W_down (fp16) and the largest two float64 working copies: under 40 kB; two layers do not fit
    const split = await weightStatistics(c.spec, { model: loaded, ep: 'cpu', maxDeviceMemory: 40_000 }, statsFor(c.spec), { onLog: (l) => lines.push(l) });
    expect(lines[0]).toMatch(/^weight statistics: 4 sessions of layers/);
    for (const l of c.spec.layers) {
      expect(split.headGram(l.index)).toEqual(one.headGram(l.index));
      expect(split.inputSquares(l.index, 'down')).toEqual(one.inputSquares(l.index, 'down'));
    }
    await expect(weightStatistics(c.spec, { model: loaded, ep: 'cpu', maxDeviceMemory: 1000 }, statsFor(c.spec))).rejects.toThrow(/--max-device-memory 1\.0 kB is below what the weight statistics of layer 0 .* needs/);
  });

  /** A model of initializers only (no nodes): o [H*D in, out] stored either way, and a fused [in, 2*out] "gate_up". */
  function wideModel(dir: string, dtype: 'float32' | 'float16', oOutAxis: 0 | 1, H: number, D: number, out: number, inter: number): { loaded: LoadedModel; spec: ModelSpec } {
    const r = mulberry32(oOutAxis * 10 + (dtype === 'float16' ? 1 : 0));
    const values = (n: number) => {
      const v = Float32Array.from({ length: n }, () => (r() - 0.5) * 0.1);
      return dtype === 'float16' ? float16ToFloat32(float32ToFloat16(v)) : v;
    };
    const type = dtype === 'float16' ? DataType.FLOAT16 : DataType.FLOAT;
    const data = (v: Float32Array) => (dtype === 'float16' ? float32ToFloat16(v) : v);
    const o = values(H * D * out);
    const fused = values(out * 2 * inter);
    const model = {
      irVersion: 8,
      opsetImport: [{ domain: '', version: 17 }],
      graph: {
        name: 'wide',
        node: [],
        input: [],
        output: [],
        initializer: [makeTensor('o', type, oOutAxis === 1 ? [H * D, out] : [out, H * D], data(o)), makeTensor('gate_up', type, [out, 2 * inter], data(fused))],
      },
    } as unknown as ModelProto;
    const oRef: LinearRef = { node: 'o', weight: 'o', outAxis: oOutAxis };
    const upRef: LinearRef = { node: 'up', weight: 'gate_up', outAxis: 1, columns: { start: inter, end: 2 * inter } };
    const spec = { numLayers: 1, layers: [{ index: 0, numHeads: H, headDim: D, o: oRef, up: upRef }] } as unknown as ModelSpec;
    return { loaded: { model, path: join(dir, 'wide.onnx'), dir }, spec };
  }

  for (const [dtype, oOutAxis] of [['float32', 1], ['float16', 0]] as const) {
    it(`wide o_proj stored with outputs on axis ${oOutAxis} (${dtype}): Grams bit for bit; a fused weight's column slice: input squares of its own columns`, async () => {
      const [H, D, out, inter] = [4, 64, 3072, 96];
      const { loaded, spec } = wideModel(tmp.dir, dtype, oOutAxis, H, D, out, inter);
      const weights = modelWeights(loaded.model, loaded.dir);
      const stats = await weightStatistics(spec, { model: loaded, ep: 'cpu' }, [
        { layer: 0, kind: 'headGram' },
        { layer: 0, kind: 'inputSquares', projection: 'up' },
      ]);
      const g = stats.headGram(0);
      expect(g.length).toBe(H * D * D);
      expect(g).toEqual(await hostHeadGram(spec.layers[0]!, weights));
      // canonical [in][out] of the slice, summed in float64
      const up = await weights.linear(spec.layers[0]!.up);
      expect(up.outFeatures).toBe(inter);
      const want = Float64Array.from({ length: up.inFeatures }, (_, i) => {
        let s = 0;
        for (let o = 0; o < inter; o++) s += up.data[i * inter + o]! ** 2;
        return s;
      });
      expectSquares(stats.inputSquares(0, 'up'), want, inter, 'up');
    });
  }

  it('refuses an o_proj whose inputs are not numHeads x headDim, naming the layer; nothing asked, no session', async () => {
    const { loaded, spec } = wideModel(tmp.dir, 'float32', 1, 4, 8, 16, 4);
    const bad = { ...spec, layers: [{ ...spec.layers[0]!, index: 0, headDim: 7 }] } as ModelSpec;
    await expect(weightStatistics(bad, { model: loaded, ep: 'cpu' }, [{ layer: 0, kind: 'headGram' }])).rejects.toThrow(/layer 0: o_proj takes 32 inputs, expected numHeads\*headDim = 28/);
    await expect(weightStatistics(spec, { model: loaded, ep: 'cpu' }, [{ layer: 3, kind: 'headGram' }])).rejects.toThrow(/layer 3: the model has 1 layers/);
    const none = await weightStatistics(spec, { model: { ...loaded, path: '/nonexistent/x.onnx', dir: '/nonexistent' } }, []);
    expect(() => none.headGram(0)).toThrow(/0\.headGram was not computed/);
  });
});
