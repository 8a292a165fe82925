import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTinyLlama, repoRoot, shared, tempDir, type TinyLlama } from '@llm-bip/testing';
import { loadTokenizer } from '@llm-bip/eval';
import { DEFAULTS, evalMemoryBudget } from './defaults.js';
import { evaluateModel, windowBatchOf } from './evaluate.js';

const tmp = tempDir('pipeline-evaluate-');
afterAll(tmp.cleanup);

describe('perplexity windows per run', () => {
  let m: TinyLlama;
  beforeAll(async () => {
    // the test-bed tokenizer's vocabulary, a tiny width: many windows fit any budget
    m = await buildTinyLlama({ seed: 9, hiddenSize: 32, numLayers: 2, numHeads: 4, numKvHeads: 2, intermediateSize: 48, vocabSize: 8192 }, { dir: join(tmp.dir, 'm'), dtype: 'float32', kvCache: false });
  });

  it('batched by the memory estimate, per-window NLLs equal the one-window-per-run path (1e-5 relative)', { timeout: 300_000 }, async () => {
    const tokenizer = loadTokenizer(join(repoRoot, 'apps/cli/demo/bip-llama-tiny'));
    // PTB validation: the smallest set to tokenize (once: the second run reads the cache)
    const req = { ppl: ['ptb'], tasks: [], seqLen: 64, limit: 24, dataDir: shared('data'), ep: 'cpu' as const, cacheDir: join(tmp.dir, 'cache') };
    const logs: string[] = [];
    const auto = await evaluateModel({ path: m.onnxPath }, tokenizer, req, { log: (l) => logs.push(l) });
    const one = await evaluateModel({ path: m.onnxPath }, tokenizer, { ...req, batchSize: 1 });
    // 24 windows of a vocab-8192, hidden-32 model (about 8.5 MiB each) fit the budget: all in one run
    expect(logs.some((l) => /perplexity: 24 windows per run \(about 8 MiB each by the memory estimate/.test(l))).toBe(true);
    const [a, b] = [auto.perplexity[0]!, one.perplexity[0]!];
    expect(a.windows).toBe(24);
    // a batch changes only the order of float32 sums inside ORT's kernels: per window, 1e-5 relative is
    // ~100x the float32 rounding of a 64-token NLL sum
    a.windowNll.forEach((x, i) => expect(Math.abs(x - b.windowNll[i]!) / b.windowNll[i]!).toBeLessThan(1e-5));
    expect(Math.abs(a.ppl - b.ppl) / b.ppl).toBeLessThan(1e-5);
  });

  it('the caller\'s batch wins; an unknown vocabulary takes the default; the limit caps the batch; widths come from the export record', () => {
    expect(windowBatchOf(m.onnxPath, 'cpu', 8192, 128, { batchSize: 3 })).toEqual({ batch: 3, why: 'as asked' });
    expect(windowBatchOf(m.onnxPath, 'cpu', undefined, 128, {}).batch).toBe(DEFAULTS.eval.windowBatch);
    expect(windowBatchOf(m.onnxPath, 'cpu', 8192, 128, { limit: 5 }).batch).toBe(5);
    const auto = windowBatchOf(m.onnxPath, 'webgpu', 8192, 128, {});
    expect(auto.why).toMatch(/budget 4096 MiB on webgpu$/); // widths known: no "unknown" note
    const bare = windowBatchOf(join(tmp.dir, 'nowhere.onnx'), 'webgpu', 8192, 128, {});
    expect(bare.why).toMatch(/model widths unknown, logits term doubled/);
  });

  it('memory budget: a quarter of free memory on the CPU, capped at 4 GiB; 4 GiB on GPU EPs', () => {
    expect(evalMemoryBudget('cpu', 8 * 1024 ** 3)).toBe(2 * 1024 ** 3);
    expect(evalMemoryBudget('cpu', 64 * 1024 ** 3)).toBe(4 * 1024 ** 3);
    expect(evalMemoryBudget('cuda', 1024 ** 3)).toBe(4 * 1024 ** 3);
  });
});
