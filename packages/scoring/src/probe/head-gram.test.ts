import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '@llm-bip/testing';
import { loadModel } from '@llm-bip/onnx-io';
import { hfNames, type LayerSpec } from '@llm-bip/model';
import { tinyCase } from '../tiny-models.testutil.js';
import { modelWeights, type LinearWeight, type WeightSource } from '../weights.js';
import { headGrams, hostHeadGram } from './head-gram.js';

const tmp = tempDir('scoring-head-gram-');
afterAll(tmp.cleanup);

/** A WeightSource that serves one in-memory o_proj for every layer. */
function oOnly(w: LinearWeight): WeightSource {
  const no = async (): Promise<never> => {
    throw new Error('not used');
  };
  return { linear: async () => w, vector: no, tensor: no };
}

describe('head Gram matrices', () => {
  it.each(['float32', 'float16'] as const)('ORT float64 MatMul on the scoring EP, W_o from the model initializers, gives the JavaScript float64 values bit for bit, which match G_h = W_h^T W_h from the HF weights (%s)', async (dtype) => {
    const c = await tinyCase(tmp.dir, `m-${dtype}`, { seed: 11, hiddenSize: 48, numLayers: 2, numHeads: 4, numKvHeads: 2, intermediateSize: 40, vocabSize: 64 }, dtype);
    const loaded = await loadModel(c.onnxPath);
    const weights = modelWeights(loaded.model, loaded.dir);
    const grams = await headGrams(c.spec, c.spec.layers, { model: loaded, ep: 'cpu' });
    expect([...grams.keys()]).toEqual([0, 1]);
    for (const layer of c.spec.layers) {
      const host = await hostHeadGram(layer, weights);
      expect(grams.get(layer.index)).toEqual(host);
      // independent: HF o_proj is [hidden (out), H*D (in)], upcast to float64; G rounded to float32 once
      const { numHeads: H, headDim: D } = layer;
      const hf = c.weights.get(hfNames.o(layer.index))!;
      const inF = H * D;
      const out = hf.length / inF;
      for (let h = 0; h < H; h++) {
        for (let d = 0; d < D; d++) {
          for (let e = 0; e < D; e++) {
            let s = 0;
            for (let o = 0; o < out; o++) s += hf[o * inF + h * D + d]! * hf[o * inF + h * D + e]!;
            const got = host[h * D * D + d * D + e]!;
            expect(Math.abs(got - s)).toBeLessThanOrEqual(Math.abs(s) * 2 ** -24);
          }
        }
      }
    }
  });

  // wide o_proj, both stored layouts, fp16: weight-stats.test.ts

  it('the reference refuses an o_proj whose inputs are not numHeads x headDim, naming the layer', async () => {
    const layer = { index: 3, numHeads: 4, headDim: 8, o: { weight: 'o', outAxis: 1 } } as unknown as LayerSpec;
    const w: LinearWeight = { inFeatures: 30, outFeatures: 16, data: new Float32Array(30 * 16) };
    await expect(hostHeadGram(layer, oOnly(w))).rejects.toThrow(/layer 3: o_proj takes 30 inputs, expected numHeads\*headDim = 32/);
  });
});
