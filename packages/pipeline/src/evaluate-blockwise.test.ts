// Block-by-block perplexity against the whole-model session on the two test beds (bip-llama-tiny: fp32
// with a KV cache, past inputs fed empty; bip-llama-small: fp32, external data), and the refusals of
// bad budgets. The segments compute the same float32 ops as the whole graph, only in several sessions.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shared, tempDir } from '@llm-bip/testing';
import { createScoringSession, evaluatePerplexity, evaluateTasks, loadTextDataset, loadTokenizer, locatePerplexitySet, type TaskName, type TasksResult } from '@llm-bip/eval';
import { exportLlamaToOnnx } from '@llm-bip/model';
import { evaluateModel, type EvalRequest } from './evaluate.js';
import { loadBlockwiseModel, planEvaluation, windowsPerPass } from './evaluate-blockwise.js';

const tmp = tempDir('pipeline-eval-blockwise-');
afterAll(tmp.cleanup);

const BEDS = [
  // budgets: a few blocks' weights and activations, under the whole model's estimate
  { name: 'bip-llama-tiny', kvCache: true, externalData: false, budget: 36e6 },
  { name: 'bip-llama-small', kvCache: false, externalData: true, budget: 45e6 },
] as const;
const onnx: Record<string, string> = {};
const tokenizer = loadTokenizer(shared('testbed/bip-llama-tiny'));

beforeAll(async () => {
  for (const b of BEDS) {
    onnx[b.name] = join(tmp.dir, b.name, 'model.onnx');
    mkdirSync(join(tmp.dir, b.name));
    await exportLlamaToOnnx(shared('testbed', b.name), onnx[b.name]!, { dtype: 'float32', kvCache: b.kvCache, externalData: b.externalData });
  }
}, 120_000);

const request = (extra: Partial<EvalRequest> = {}): EvalRequest => ({
  ppl: ['wikitext2'],
  tasks: [],
  seqLen: 64,
  limit: 6,
  batchSize: 2,
  dataDir: shared('data'),
  ep: 'cpu',
  cacheDir: join(tmp.dir, 'cache'),
  ...extra,
});

/** Largest |a - b| / |b| over the windows. */
function worst(a: number[], b: number[]): number {
  expect(a).toHaveLength(b.length);
  return Math.max(...a.map((x, i) => Math.abs(x - b[i]!) / Math.abs(b[i]!)));
}

describe('block-by-block perplexity', () => {
  for (const bed of BEDS) {
    it(`equals the whole-model session on ${bed.name} (window NLLs within 1e-6 relative) at 1 and 3 blocks per session and under a budget`, { timeout: 300_000 }, async () => {
      const whole = (await evaluateModel({ path: onnx[bed.name]! }, tokenizer, request())).perplexity[0]!;
      expect(whole.windows).toBe(6);
      for (const extra of [{ blocksPerSession: 1 }, { blocksPerSession: 3 }, { maxDeviceMemory: bed.budget }] as Partial<EvalRequest>[]) {
        const logs: string[] = [];
        const run = await evaluateModel({ path: onnx[bed.name]! }, tokenizer, request(extra), { log: (l) => logs.push(l) });
        const blockwise = run.perplexity[0]!;
        // it did run block by block (not the whole model because the budget happened to fit)
        expect(logs.some((l) => /^evaluation: block by block, \d+ segments/.test(l)), logs.join('\n')).toBe(true);
        const err = worst(blockwise.windowNll, whole.windowNll);
        console.log(`[eval-blockwise] ${bed.name} ${JSON.stringify(extra)}: worst window NLL relative difference ${err.toExponential(2)}`);
        expect(err).toBeLessThanOrEqual(1e-6);
        expect(Math.abs(blockwise.ppl - whole.ppl) / whole.ppl).toBeLessThanOrEqual(1e-6);
        expect(run.ep).toBe('cpu');
      }
    });
  }

  it('gives the same NLLs when the windows go in several passes (each pass makes every segment session again)', { timeout: 300_000 }, async () => {
    const path = onnx['bip-llama-small']!;
    const dataset = await loadTextDataset('wikitext2', locatePerplexitySet('wikitext2', shared('data')));
    const opts = { seqLen: 64, limit: 6, batchSize: 2, cacheDir: join(tmp.dir, 'cache') };
    const m = await loadBlockwiseModel(path);
    const logs: string[] = [];
    const passes = planEvaluation(m, { ep: 'cpu', blocksPerSession: 4, batchWindows: 2, seqLen: 64, passWindows: 2, onLog: (l) => logs.push(l) });
    const one = planEvaluation(m, { ep: 'cpu', blocksPerSession: 4, batchWindows: 2, seqLen: 64 });
    if (passes.mode !== 'blockwise' || one.mode !== 'blockwise') throw new Error('expected block-by-block plans');
    const a = await evaluatePerplexity(passes.scoring, tokenizer, dataset, opts);
    const b = await evaluatePerplexity(one.scoring, tokenizer, dataset, opts);
    expect(logs.filter((l) => /^pass \d\/3: 2 sequences$/.test(l))).toHaveLength(3);
    expect(worst(a.windowNll, b.windowNll)).toBeLessThanOrEqual(1e-6);
  });

  it("zero-shot tasks: every request's log-likelihood and greedy flag equal the whole-model session's (1e-6 relative)", { timeout: 300_000 }, async () => {
    const path = onnx['bip-llama-tiny']!;
    const taskOpts = { tasksDir: shared('data', 'tasks'), tasks: ['boolq', 'piqa'] as TaskName[], limit: 6, batchSize: 4, logSamples: true };
    const { session, cleanup } = await createScoringSession(path, { ep: 'cpu' });
    let whole: TasksResult;
    try {
      whole = await evaluateTasks(session, tokenizer, taskOpts);
    } finally {
      await session.release();
      await cleanup();
    }
    // passes of at most 8 x 64 tokens of requests
    const plan = planEvaluation(await loadBlockwiseModel(path), { ep: 'cpu', blocksPerSession: 2, batchWindows: 4, seqLen: 64, passWindows: 8 });
    if (plan.mode !== 'blockwise') throw new Error('expected a block-by-block plan');
    const blockwise = await evaluateTasks(plan.scoring, tokenizer, taskOpts);
    for (const task of taskOpts.tasks) {
      const [a, b] = [blockwise.results[task]!, whole.results[task]!];
      expect(a.samples).toBe(6);
      const lls = (r: typeof a) => r.log!.flatMap((l) => l.lls);
      expect(worst(lls(a), lls(b))).toBeLessThanOrEqual(1e-6);
      expect(a.log!.map((l) => l.isGreedy)).toEqual(b.log!.map((l) => l.isGreedy));
      expect([a.acc, a.acc_norm]).toEqual([b.acc, b.acc_norm]);
    }
  });

  it('windows per pass: a quarter of the budget over one window\'s hidden state, whole batches, at least one batch', async () => {
    const { spec } = await loadBlockwiseModel(onnx['bip-llama-small']!);
    // hidden 512 x 64 tokens x 4 bytes = 128 KiB a window
    expect(windowsPerPass(spec, 64, 4, 4 * 131072 * 10)).toBe(8);
    expect(windowsPerPass(spec, 64, 4, 1000)).toBe(4);
    expect(windowsPerPass(spec, 64, 4, undefined)).toBe(Number.POSITIVE_INFINITY);
  });
});

describe('budgets: refusals, whole when it fits, tasks', () => {
  it('a budget below one block is refused before any window runs, with the size it needs', async () => {
    const logs: string[] = [];
    await expect(evaluateModel({ path: onnx['bip-llama-small']! }, tokenizer, request({ maxDeviceMemory: 1_000_000 }), { log: (l) => logs.push(l) })).rejects.toThrow(
      /--max-device-memory 1\.0 MB is below what block \d+( with the LM head)? alone needs: about [\d.]+ MB .*Give at least/,
    );
    expect(logs.some((l) => l.includes('wikitext2'))).toBe(false);
  });

  it('evaluateModel runs perplexity and tasks block by block under a budget the model exceeds', { timeout: 300_000 }, async () => {
    const logs: string[] = [];
    const run = await evaluateModel({ path: onnx['bip-llama-tiny']! }, tokenizer, request({ tasks: ['boolq'], limit: 3, blocksPerSession: 3 }), { log: (l) => logs.push(l) });
    expect(run.perplexity[0]!.windows).toBe(3);
    expect(run.tasks!.results.boolq!.samples).toBe(3);
    expect(logs.some((l) => /^evaluation: block by block, 3 segments/.test(l))).toBe(true);
  });

  it('a budget the whole model fits runs it whole, and says so', async () => {
    const logs: string[] = [];
    const run = await evaluateModel({ path: onnx['bip-llama-tiny']! }, tokenizer, request({ maxDeviceMemory: 50e9, limit: 2 }), { log: (l) => logs.push(l) });
    expect(run.perplexity[0]!.windows).toBe(2);
    expect(logs.some((l) => /^evaluation: the whole model in one session \(the whole model \(about [\d.]+ MB\) fits 50\.00 GB \(--max-device-memory\)\)$/.test(l))).toBe(true);
  });

  it('blocks per session must be a whole number >= 1', async () => {
    await expect(evaluateModel({ path: onnx['bip-llama-tiny']! }, tokenizer, request({ blocksPerSession: 0 }))).rejects.toThrow(/blocks per session must be a whole number >= 1, got 0/);
  });
});
