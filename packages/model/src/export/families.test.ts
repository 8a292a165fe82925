/**
 * Each family's differences (hf/families.ts) through our exporter: logits equal the float64 reference
 * (written from the equations), the decode with KV cache equals the full forward, and each difference
 * matters (switching it off in the reference moves the logits), so the tests can fail.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { tempDir, referenceForward, buildTinyLlama, maxAbs, maxAbsDiff, type TinyLlamaShape } from '@llm-bip/testing';
import type { LlamaConfig } from '../hf/config.js';
import type { Family } from '../hf/families.js';
import { loadHfWeightsFloat64 } from '../hf/weights.js';
import { decodeInSteps, forwardFeeds, logitsOf, openSession } from './ort.testutil.js';
import type { ExportDtype } from './llama-graph.js';

const tmp = tempDir('llm-bip-families-');
afterAll(() => tmp.cleanup());

const BASE: Omit<TinyLlamaShape, 'family'> = { seed: 7, hiddenSize: 64, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 16, intermediateSize: 96, vocabSize: 128 };
const IDS = [
  [5, 17, 3, 99, 42, 8, 61, 12, 100, 3],
  [1, 2, 90, 33, 7, 7, 50, 64, 21, 9],
];

// what to switch off in the reference to show the family's difference is real
const CASES: Array<{ family: Family; shape?: Partial<TinyLlamaShape>; without: Partial<LlamaConfig> }> = [
  { family: 'mistral', shape: { slidingWindow: 4 }, without: { slidingWindow: undefined } },
  { family: 'qwen2', shape: { tieEmbeddings: true }, without: { qkvBias: false } },
  { family: 'qwen3', shape: { headDim: 32 }, without: { qkNorm: false } },
  { family: 'phi3', shape: { slidingWindow: 6 }, without: { slidingWindow: undefined } },
  { family: 'gemma', shape: { tieEmbeddings: true }, without: { embeddingScale: 1 } },
  { family: 'gemma', shape: { tieEmbeddings: true }, without: { hiddenAct: 'silu' } },
  { family: 'gemma', shape: { tieEmbeddings: true }, without: { normOffset: 0 } },
];

const TOL: Record<ExportDtype, number> = { float32: 1e-5, float16: 1e-2 };

let n = 0;
async function tiny(family: Family, shape: Partial<TinyLlamaShape> | undefined, dtype: ExportDtype, kvCache: boolean) {
  const m = await buildTinyLlama({ ...BASE, ...shape, family }, { dir: join(tmp.dir, `m${n++}`), dtype, kvCache });
  const { config, weights } = await loadHfWeightsFloat64(m.hfDir);
  return { ...m, config, weights };
}

describe('family exports == float64 reference', () => {
  for (const c of CASES) {
    const what = Object.keys(c.without).join(', ');
    it(`${c.family} (${what} matters), fp32 and fp16`, async () => {
      for (const dtype of ['float32', 'float16'] as const) {
        const m = await tiny(c.family, c.shape, dtype, false);
        expect(m.config.modelType).toBe(c.family);
        const session = await openSession(m.onnxPath);
        const got = logitsOf(await session.run(forwardFeeds(IDS)));
        await session.release();
        const want = referenceForward(m.config, m.weights, IDS);
        const scale = maxAbs(want);
        const err = maxAbsDiff(got, want) / scale;
        console.log(`[families] ${c.family} ${dtype}: relative max err ${err.toExponential(2)}`);
        expect(err).toBeLessThanOrEqual(TOL[dtype]);
        if (dtype === 'float32') {
          const off = referenceForward({ ...m.config, ...c.without }, m.weights, IDS);
          expect(maxAbsDiff(off, want) / scale).toBeGreaterThan(1e-3);
        }
      }
    });
  }
});

describe('family exports with KV cache', () => {
  for (const c of CASES.slice(0, 5)) {
    it(`${c.family}: decoding token by token equals the reference`, async () => {
      const m = await tiny(c.family, c.shape, 'float32', true);
      const session = await openSession(m.onnxPath);
      // prefill 3, then one token at a time: past the sliding window, the cache holds keys the mask must hide
      const stepped = await decodeInSteps(session, IDS, m.config, { prefill: 3 });
      await session.release();
      const want = referenceForward(m.config, m.weights, IDS);
      expect(maxAbsDiff(stepped, want) / maxAbs(want)).toBeLessThanOrEqual(TOL.float32);
    });
  }
});
