import { afterAll, describe, expect, it } from 'vitest';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, referenceForward, buildTinyLlama, maxAbs, maxAbsDiff, type TinyLlamaShape } from '@llm-bip/testing';
import { loadHfWeightsFloat64 } from '../hf/weights.js';
import { exportLlamaToOnnx } from './export.js';
import { decodeInSteps, emptyPast, forwardFeeds, logitsOf, openSession } from './ort.testutil.js';
import type { ExportDtype } from './llama-graph.js';

const tmp = tempDir('llm-bip-export-');
afterAll(() => tmp.cleanup());

const MHA: TinyLlamaShape = { seed: 1, hiddenSize: 64, numLayers: 2, numHeads: 4, numKvHeads: 4, intermediateSize: 96, vocabSize: 128 };
// GQA with head_dim != hidden / heads, tied embeddings, another rope base
const GQA: TinyLlamaShape = { seed: 2, hiddenSize: 64, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 8, intermediateSize: 80, vocabSize: 112, tieEmbeddings: true, ropeTheta: 500 };

const IDS = [
  [5, 17, 3, 99, 42, 8, 61],
  [1, 2, 90, 33, 7, 7, 50],
];

let n = 0;
async function tiny(shape: TinyLlamaShape, dtype: ExportDtype, kvCache: boolean) {
  const m = await buildTinyLlama(shape, { dir: join(tmp.dir, `m${n++}`), dtype, kvCache });
  const { config, weights } = await loadHfWeightsFloat64(m.hfDir);
  return { ...m, config, weights };
}

// Tolerances, relative to the largest |logit| of the reference: fp32 1e-5 (measured ~1e-7), fp16 1e-2 (measured ~1e-3).
const TOL: Record<ExportDtype, number> = { float32: 1e-5, float16: 1e-2 };

describe('exporter logits == float64 reference', () => {
  for (const [label, shape] of [['MHA untied', MHA], ['GQA tied, head_dim 8', GQA]] as const) {
    for (const dtype of ['float32', 'float16'] as const) {
      it(`${label}, ${dtype}`, async () => {
        const m = await tiny(shape, dtype, false);
        const session = await openSession(m.onnxPath);
        const got = logitsOf(await session.run(forwardFeeds(IDS)));
        await session.release();
        expect(got.length).toBe(IDS.length * IDS[0]!.length * m.config.vocabSize);
        const want = referenceForward(m.config, m.weights, IDS);
        const scale = maxAbs(want);
        expect(scale).toBeGreaterThan(0.5); // the random model has logits of order 1
        const err = maxAbsDiff(got, want) / scale;
        console.log(`[export] ${label} ${dtype}: max |logit| ${scale.toFixed(3)}, relative max err ${err.toExponential(2)}`);
        expect(err).toBeLessThanOrEqual(TOL[dtype]);
      });
    }
  }
});

describe('KV cache', () => {
  for (const dtype of ['float32', 'float16'] as const) {
    it(`GQA ${dtype}: decoding token by token equals the full forward`, async () => {
      const m = await tiny(GQA, dtype, true);
      const session = await openSession(m.onnxPath);
      const names = session.outputNames.filter((o) => o.startsWith('present.'));
      expect(names).toHaveLength(2 * m.config.numLayers);
      const full = logitsOf(await session.run({ ...forwardFeeds(IDS), ...emptyPast(session, IDS.length, m.config, dtype) }));
      const stepped = await decodeInSteps(session, IDS, m.config, {
        prefill: 3,
        dtype,
        onStep: (out, pos, len) => expect(out[names[0]!]!.dims).toEqual([IDS.length, m.config.numKvHeads, pos + len, m.config.headDim]),
      });
      await session.release();
      const want = referenceForward(m.config, m.weights, IDS);
      const err = maxAbsDiff(stepped, full) / maxAbs(want);
      console.log(`[export] KV cache ${dtype}: decode vs full relative max err ${err.toExponential(2)}`);
      expect(err).toBeLessThanOrEqual(TOL[dtype]);
      expect(maxAbsDiff(stepped, want) / maxAbs(want)).toBeLessThanOrEqual(TOL[dtype]);
    });
  }
});

describe('attention_mask', () => {
  it('left padding gives the same logits on the real tokens', async () => {
    const m = await tiny(GQA, 'float32', false);
    const session = await openSession(m.onnxPath);
    const short = [9, 4, 77, 12];
    const pad = IDS[0]!.length - short.length;
    const ids = [[...Array.from({ length: pad }, () => 0), ...short], IDS[1]!];
    const mask = [[...Array.from({ length: pad }, () => 0), ...short.map(() => 1)], IDS[1]!.map(() => 1)];
    // positions as HF generate makes them: cumsum(mask) - 1, padding clamped to 1
    const positions = mask.map((r) => {
      let c = -1;
      return r.map((v) => (v ? ++c : 1));
    });
    const padded = logitsOf(await session.run(forwardFeeds(ids, { mask, positions })));
    const alone = logitsOf(await session.run(forwardFeeds([short])));
    await session.release();
    const V = m.config.vocabSize;
    const realRows = padded.subarray(pad * V, ids[0]!.length * V);
    const scale = maxAbs(alone);
    expect(maxAbsDiff(realRows, alone) / scale).toBeLessThanOrEqual(1e-5);
    // the reference agrees on the padded batch too (real tokens of row 0, all of row 1)
    const ref = referenceForward(m.config, m.weights, ids, { attentionMask: mask, positionIds: positions });
    expect(maxAbsDiff(realRows, ref.subarray(pad * V, ids[0]!.length * V)) / scale).toBeLessThanOrEqual(1e-5);
    const S = ids[0]!.length;
    expect(maxAbsDiff(padded.subarray(S * V), ref.subarray(S * V)) / scale).toBeLessThanOrEqual(1e-5);
    // and padding matters when it is not masked (the test can fail)
    const unmasked = referenceForward(m.config, m.weights, ids, { positionIds: positions });
    expect(maxAbsDiff(unmasked.subarray(pad * V, S * V), alone) / scale).toBeGreaterThan(1e-3);
  });
});

describe('checkpoint variants', () => {
  it('a BF16 checkpoint in 3 shards exports (fp32, external data) to the reference logits', async () => {
    const m = await buildTinyLlama(MHA, { dir: join(tmp.dir, 'bf16-sharded'), dtype: 'float32', kvCache: false, storage: 'bfloat16', shards: 3, externalData: true });
    expect(readdirSync(m.hfDir).sort()).toEqual([
      'config.json', 'model-00001-of-00003.safetensors', 'model-00002-of-00003.safetensors', 'model-00003-of-00003.safetensors', 'model.safetensors.index.json',
    ]);
    expect(readdirSync(join(tmp.dir, 'bf16-sharded')).sort()).toEqual(['hf', 'model.onnx', 'model.onnx.data']);
    const { config, weights } = await loadHfWeightsFloat64(m.hfDir);
    const session = await openSession(m.onnxPath);
    const got = logitsOf(await session.run(forwardFeeds(IDS)));
    await session.release();
    const want = referenceForward(config, weights, IDS);
    expect(maxAbsDiff(got, want) / maxAbs(want)).toBeLessThanOrEqual(TOL.float32);
    // the weights really are bf16-rounded (low 16 bits of every float32 zero)
    const q = weights.get('model.layers.0.self_attn.q_proj.weight')!;
    expect(Array.from(q.slice(0, 50)).every((v) => (new Uint32Array(Float32Array.of(v).buffer)[0]! & 0xffff) === 0)).toBe(true);
  });
});

describe('rope scaling', () => {
  // positions far from 0 so the frequency scaling shows; head_dim 16 with an original context of 64
  // puts pairs in all three llama3 bands (kept, blended, divided)
  const far = IDS.map((r) => r.map((_, t) => 900 + 3 * t));
  const cases = [
    ['linear x2', { kind: 'linear', factor: 2 }],
    ['llama3', { kind: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 64 }],
  ] as const;
  for (const [label, ropeScaling] of cases) {
    it(`${label}: export == reference, and differs from unscaled rope`, async () => {
      const m = await tiny({ ...MHA, ropeScaling }, 'float32', false);
      const session = await openSession(m.onnxPath);
      const got = logitsOf(await session.run(forwardFeeds(IDS, { positions: far })));
      await session.release();
      const want = referenceForward(m.config, m.weights, IDS, { positionIds: far });
      expect(maxAbsDiff(got, want) / maxAbs(want)).toBeLessThanOrEqual(TOL.float32);
      const plain = referenceForward({ ...m.config, ropeScaling: { kind: 'default' } }, m.weights, IDS, { positionIds: far });
      expect(maxAbsDiff(plain, want) / maxAbs(want)).toBeGreaterThan(1e-3);
    });
  }
});

describe('exportLlamaToOnnx progress', () => {
  it('reports every weight tensor once, in order', async () => {
    const dir = join(tmp.dir, 'progress');
    const m = await buildTinyLlama(GQA, { dir, dtype: 'float16', kvCache: false });
    const seen: Array<{ done: number; total: number; tensor: string }> = [];
    const res = await exportLlamaToOnnx(m.hfDir, join(dir, 'again.onnx'), { dtype: 'float16', kvCache: false, onProgress: (p) => seen.push(p) });
    // tied: embeddings, 9 per layer, final norm
    expect(seen.map((p) => p.done)).toEqual(Array.from({ length: 1 + 9 * 2 + 1 }, (_, i) => i + 1));
    expect(seen.every((p) => p.total === seen.length)).toBe(true);
    expect(seen[0]!.tensor).toBe('model.embed_tokens.weight');
    expect(res.dataPath).toBeUndefined();
    expect(res.bytesWritten).toBe(statSync(join(dir, 'again.onnx')).size);
  });
});
