/**
 * GGUF export checked in a real llama.cpp (node-llama-cpp 3.21.1's prebuilt CPU build): bip-llama-tiny
 * dense and pruned (a uniform plan -> `llama` architecture; two plans with uneven per-layer widths ->
 * `deci`, one with bias compensation), bip-llama-small dense and pruned (uneven, biases), and the
 * Llama-3 family fixture (GQA) dense and pruned to 1 and 2 KV heads in its two layers load, and their
 * token log-probabilities equal our ONNX evaluation.
 *
 * Tolerances (measured values in the package README):
 * - F32 GGUF, exact context (F32 KV cache, no flash attention): every token's log-prob within
 *   1e-3 x max(|lp|, 1) of ours, perplexity within 1e-4 relative. This is the mapping check: layouts,
 *   the Q/K rope permutation, per-layer widths, biases.
 * - F16 GGUF, llama.cpp's default context: perplexity within 1e-3 relative; single tokens within
 *   5e-3 x max(|lp|, 1), because llama.cpp's CPU kernels round activations to fp16 in F16 matmuls and
 *   flash attention (the weights themselves are the test-bed's fp16 weights, exactly); taken apart in
 *   gguf-precision.slow.test.ts.
 * - BF16 (8-bit mantissa) within 1e-3 relative perplexity; Q8_0 within 1 % (a lossy format).
 * - Greedy decoding from the F32 GGUF gives the same tokens as our ONNX greedy decode.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readGgufHeader } from '@llm-bip/gguf';
import { exportLlamaToOnnx } from '@llm-bip/model';
import { familyFixture, mulberry32, syntheticTokenizerJson, tempDir, writeTinyHfCheckpoint } from '@llm-bip/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTextDataset, loadTokenizer, locatePerplexitySet } from '@llm-bip/eval';
import { DATA, agreement, exportTestbed, groupPlan, onnxGreedy, onnxLogProbs, pruneInto, seededPlan, specOf, toGguf, wikitextWindows, type Agreement } from './gguf-llama-cpp.testutil.js';
import { loadLlamaCpp } from './llama-cpp.testutil.js';

const tmp = tempDir('llm-bip-gguf-llama-cpp-');
afterAll(tmp.cleanup);

interface Variant {
  name: string;
  onnx: string;
  arch: 'llama' | 'deci';
}

/**
 * The F32 GGUF in llama.cpp's exact context gives our ONNX token log-probs (1e-3 x max(|lp|, 1) per
 * token, 1e-4 relative perplexity) and our greedy tokens; with `f16`, the F16 GGUF in llama.cpp's
 * default context gives our perplexity within 1e-3 and single tokens within 5e-3.
 */
async function checkVariant(v: Variant, windows: number[][], opts: { f16: boolean }): Promise<{ f32: Agreement; f16?: Agreement }> {
  const ours = await onnxLogProbs(v.onnx, windows);

  const f32 = await toGguf(v.onnx, 'f32');
  expect(f32.architecture, v.name).toBe(v.arch);
  const header = await readGgufHeader(f32.path);
  expect(header.metadata.get('general.architecture')?.value).toBe(v.arch);
  const exact = await loadLlamaCpp(f32.path, { exact: true });
  const f32Agree = agreement(ours, await exact.windowLogProbs(windows));
  expect(f32Agree.maxTokenRel, `${v.name} F32 ${JSON.stringify(f32Agree)}`).toBeLessThan(1e-3);
  expect(f32Agree.pplRel, v.name).toBeLessThan(1e-4);

  const prompts = [windows[0]!.slice(0, 24), windows[1]!.slice(0, 24)];
  const ourGreedy = await onnxGreedy(v.onnx, prompts, 16);
  for (const [p, prompt] of prompts.entries()) expect(await exact.greedy(prompt, 16), `${v.name} prompt ${p}`).toEqual(ourGreedy[p]);
  await exact.dispose();
  if (!opts.f16) {
    console.log(`${v.name}: F32 ${JSON.stringify(f32Agree)}`);
    return { f32: f32Agree };
  }

  const f16 = await toGguf(v.onnx, 'f16');
  const user = await loadLlamaCpp(f16.path);
  const f16Agree = agreement(ours, await user.windowLogProbs(windows));
  await user.dispose();
  expect(f16Agree.pplRel, `${v.name} F16 ${JSON.stringify(f16Agree)}`).toBeLessThan(1e-3);
  expect(f16Agree.maxTokenRel, v.name).toBeLessThan(5e-3);
  console.log(`${v.name}: F32 ${JSON.stringify(f32Agree)}; F16 ${JSON.stringify(f16Agree)}`);
  return { f32: f32Agree, f16: f16Agree };
}

/** bip-llama-tiny or -small exported, and pruned by each plan, into the temp folder. */
async function testbedVariants(model: string, plans: Array<{ name: string; heads: number[]; channels: number[]; biases: boolean; arch: 'llama' | 'deci' }>): Promise<{ variants: Variant[]; windows: number[][] }> {
  const denseDir = join(tmp.dir, model);
  mkdirSync(denseDir);
  const dense = await exportTestbed(model, denseDir);
  const spec = await specOf(dense);
  const variants: Variant[] = [{ name: `${model} dense`, onnx: dense, arch: 'llama' }];
  for (const [i, p] of plans.entries()) {
    const dir = join(tmp.dir, `${model}-pruned-${i}`);
    mkdirSync(dir);
    variants.push({ name: `${model} ${p.name}`, onnx: await pruneInto(dense, spec, seededPlan(spec, p.heads, p.channels, 100 + i), dir, p.biases), arch: p.arch });
  }
  return { variants, windows: await wikitextWindows(denseDir, 4) };
}

// a shared 2-core runner under load can take minutes per case
describe('bip-llama-tiny GGUF in llama.cpp equals our ONNX evaluation', { timeout: 600_000 }, () => {
  let variants: Variant[] = [];
  let windows: number[][] = [];
  beforeAll(async () => {
    ({ variants, windows } = await testbedVariants('bip-llama-tiny', [
      { name: 'uniform 25 %', heads: [6, 6, 6, 6, 6, 6], channels: [528, 528, 528, 528, 528, 528], biases: false, arch: 'llama' },
      { name: 'uneven ~20 % + compensation biases', heads: [8, 6, 7, 5, 8, 6], channels: [704, 600, 517, 650, 563, 480], biases: true, arch: 'deci' },
      { name: 'uneven ~50 %', heads: [4, 5, 3, 6, 2, 4], channels: [352, 300, 401, 250, 420, 333], biases: false, arch: 'deci' },
    ]));
  });

  it.each([0, 1, 2, 3])('variant %i: F32 exact per token, F16 by perplexity, greedy tokens equal', async (i) => {
    await checkVariant(variants[i]!, windows, { f16: true });
  });

  it.each([0, 3])('variant %i in BF16 and Q8_0: perplexity within 1e-3 and 1 %', async (i) => {
    const v = variants[i]!;
    const ours = await onnxLogProbs(v.onnx, windows);
    for (const [dtype, tol] of [['bf16', 1e-3], ['q8_0', 1e-2]] as const) {
      const g = await toGguf(v.onnx, dtype);
      const m = await loadLlamaCpp(g.path);
      const a = agreement(ours, await m.windowLogProbs(windows));
      await m.dispose();
      console.log(`${v.name} ${dtype}: ${JSON.stringify(a)}; F16 fallbacks ${g.f16Fallbacks.length}`);
      expect(a.pplRel, `${v.name} ${dtype} ${JSON.stringify(a)}`).toBeLessThan(tol);
    }
  });

  it("llama.cpp's tokenizer from our GGUF gives our tokenizer's ids on WikiText-2", async () => {
    const g = await toGguf(variants[0]!.onnx, 'f16');
    const m = await loadLlamaCpp(g.path);
    const ds = await loadTextDataset('wikitext2', locatePerplexitySet('wikitext2', DATA));
    const text = ds.text.slice(0, 200_000);
    const ours = loadTokenizer(join(tmp.dir, 'bip-llama-tiny')).encode(text);
    const theirs = m.model.tokenize(text);
    await m.dispose();
    expect(ours[0]).toBe(1); // BOS: llama.cpp's tokenize leaves it to the caller
    expect(theirs.length).toBe(ours.length - 1);
    expect(Array.from(theirs)).toEqual(ours.slice(1));
  });
});

describe('bip-llama-small GGUF in llama.cpp equals our ONNX evaluation', { timeout: 600_000 }, () => {
  let variants: Variant[] = [];
  let windows: number[][] = [];
  beforeAll(async () => {
    ({ variants, windows } = await testbedVariants('bip-llama-small', [
      { name: 'uneven ~35 % + compensation biases', heads: [8, 6, 5, 7, 4, 6, 5, 8], channels: [1200, 900, 1000, 700, 1100, 800, 950, 1300], biases: true, arch: 'deci' },
    ]));
  });

  it.each([0, 1])('variant %i: F32 exact per token, F16 by perplexity, greedy tokens equal', async (i) => {
    await checkVariant(variants[i]!, windows, { f16: true });
  });
});

describe('Llama-3 family fixture (GQA, llama3 rope), dense and pruned to different KV-head counts per layer', { timeout: 600_000 }, () => {
  it('F32 GGUF in llama.cpp: token log-probs equal our ONNX forward, greedy tokens equal; per-layer KV heads in the header', async () => {
    const denseDir = join(tmp.dir, 'llama3');
    mkdirSync(denseDir);
    const dense = join(denseDir, 'model.onnx');
    await exportLlamaToOnnx(familyFixture('llama3'), dense, { dtype: 'float32', kvCache: false });
    const spec = await specOf(dense);
    writeFileSync(join(denseDir, 'tokenizer.json'), JSON.stringify(syntheticTokenizerJson(spec.vocabSize)));
    expect(spec.layers.map((l) => [l.numHeads, l.numKvHeads])).toEqual([[4, 2], [4, 2]]);
    const prunedDir = join(tmp.dir, 'llama3-pruned');
    mkdirSync(prunedDir);
    // layer 0 keeps KV head 1 (query heads 2, 3), layer 1 both: 1 and 2 KV heads, FFN 70 and 57 of 96
    const pruned = await pruneInto(dense, spec, groupPlan(spec, [[1], [0, 1]], [70, 57], 3), prunedDir, false);

    const rand = mulberry32(9);
    const ids = Array.from({ length: 3 }, () => Array.from({ length: 96 }, () => 3 + Math.floor(rand() * (spec.vocabSize - 3))));
    const dn = await checkVariant({ name: 'llama3 fixture dense', onnx: dense, arch: 'llama' }, ids, { f16: false });
    const pr = await checkVariant({ name: 'llama3 fixture GQA-pruned', onnx: pruned, arch: 'deci' }, ids, { f16: false });
    const header = await readGgufHeader(pruned.replace(/\.onnx$/, '.f32.gguf'));
    expect(header.metadata.get('deci.attention.head_count')?.value).toEqual([2, 4]);
    expect(header.metadata.get('deci.attention.head_count_kv')?.value).toEqual([1, 2]);
    expect(header.metadata.get('deci.feed_forward_length')?.value).toEqual([70, 57]);
    // the pruning moved the log-probs far more than llama.cpp differs from us: not the dense check twice
    const moved = agreement(await onnxLogProbs(dense, ids), await onnxLogProbs(pruned, ids)).maxTokenAbs;
    expect(moved).toBeGreaterThan(100 * Math.max(dn.f32.maxTokenAbs, pr.f32.maxTokenAbs));
    console.log(`llama3 fixture: pruning moved token log-probs by up to ${moved.toExponential(2)}`);
  });
});

describe('a tiny random GQA model with Llama 3.1 rope scaling and tied embeddings', { timeout: 600_000 }, () => {
  it('F32 GGUF in llama.cpp: every token log-prob equals our ONNX forward, greedy tokens equal', async () => {
    const hf = join(tmp.dir, 'gqa-hf');
    const dir = join(tmp.dir, 'gqa');
    mkdirSync(dir);
    const shape = { seed: 11, hiddenSize: 64, numLayers: 2, numHeads: 4, numKvHeads: 2, intermediateSize: 96, vocabSize: 272, tieEmbeddings: true, ropeScaling: { kind: 'llama3' as const, factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 64 } };
    await writeTinyHfCheckpoint(shape, hf, 'float32');
    const onnx = join(dir, 'model.onnx');
    await exportLlamaToOnnx(hf, onnx, { dtype: 'float32', kvCache: false });
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(syntheticTokenizerJson(272)));
    const g = await toGguf(onnx, 'f32');
    expect(g.architecture).toBe('llama');
    const rand = mulberry32(5);
    const ids = Array.from({ length: 3 }, () => Array.from({ length: 96 }, () => 3 + Math.floor(rand() * 269)));
    const ours = await onnxLogProbs(onnx, ids);
    const m = await loadLlamaCpp(g.path, { exact: true });
    const a = agreement(ours, await m.windowLogProbs(ids));
    expect(a.maxTokenRel, JSON.stringify(a)).toBeLessThan(1e-3);
    expect(a.pplRel).toBeLessThan(1e-4);
    const prompt = ids[0]!.slice(0, 20);
    expect(await m.greedy(prompt, 12)).toEqual((await onnxGreedy(onnx, [prompt], 12))[0]);
    await m.dispose();
    console.log(`tiny GQA llama3-rope tied: ${JSON.stringify(a)}`);
  });
});
