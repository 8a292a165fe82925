// Evaluation of float16 exports: the scoring session keeps the weights float16 on the CPU EP
// (runtime's keepFp16Weights, chosen from the model's initializers) and its window NLLs still match
// the float64 reference forward of the same (float16-rounded) weights.
import { loadModel, mostlyHalfPrecision } from '@llm-bip/onnx-io';
import { loadHfWeightsFloat64, type LlamaConfig } from '@llm-bip/model';
import { buildTinyLlama, referenceForward, referenceTokenLogProbs, fixtures, tempDir, type TinyLlama } from '@llm-bip/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { splitWindows, windowNlls } from './perplexity.js';
import { loadTokenizer } from './tokenizer.js';
import { createScoringSession } from './token-scores.js';

const SHAPE = { seed: 13, hiddenSize: 64, numLayers: 2, numHeads: 4, numKvHeads: 2, intermediateSize: 96, vocabSize: 8192 };
const tmp = tempDir('eval-fp16-');
const tokenizer = loadTokenizer(fixtures.tinyHf);
let fp16: TinyLlama;
let fp32: TinyLlama;
let config: LlamaConfig;
let weights: Map<string, Float64Array>;

beforeAll(async () => {
  fp16 = await buildTinyLlama(SHAPE, { dir: `${tmp.dir}/fp16`, dtype: 'float16', kvCache: false, externalData: true });
  fp32 = await buildTinyLlama(SHAPE, { dir: `${tmp.dir}/fp32`, dtype: 'float32', kvCache: false });
  // the fp16 checkpoint's weights, widened: the reference sees exactly the values the export stores
  ({ config, weights } = await loadHfWeightsFloat64(fp16.hfDir));
});
afterAll(() => tmp.cleanup());

function referenceNll(ids: number[]): number {
  const V = config.vocabSize;
  return -referenceTokenLogProbs(referenceForward(config, weights, [ids.slice(0, -1)]), V, ids).reduce((a, b) => a + b, 0);
}

describe('float16 models', () => {
  it('are told apart from float32 ones by their initializers', async () => {
    expect(mostlyHalfPrecision((await loadModel(fp16.onnxPath)).model)).toBe(true);
    expect(mostlyHalfPrecision((await loadModel(fp32.onnxPath)).model)).toBe(false);
  });

  it('window NLLs of the scoring session (float16 weights kept) match the float64 reference within 1e-4 relative', async () => {
    const { session, cleanup } = await createScoringSession(fp16.onnxPath, { ep: 'cpu', threads: 1 });
    try {
      const text = 'The tower is 324 metres tall, about the same height as an 81-storey building, and the tallest structure in Paris.';
      const windows = splitWindows(tokenizer.encode(text), 12);
      const ours = await windowNlls(session, windows, { batchSize: 2 });
      expect(ours.length).toBeGreaterThan(1);
      const errors = windows.map((w, i) => Math.abs(ours[i]! - referenceNll(w)) / referenceNll(w));
      console.log(`[fp16-eval] ${windows.length} windows: worst relative NLL error ${Math.max(...errors).toExponential(2)}`);
      // float16 rounding of activations between float32 kernels (measured 7.8e-6 here)
      for (const e of errors) expect(e).toBeLessThan(1e-4);
    } finally {
      await session.release();
      await cleanup();
    }
  });
});
