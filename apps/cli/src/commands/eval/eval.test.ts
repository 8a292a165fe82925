/**
 * eval and bench on the tiny test-bed checkpoint (exported on the fly), with a small data folder
 * made from the first lines of WikiText-2 test so tokenizing stays fast.
 */
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { addTokenScoringHead, evaluatePerplexity, loadTextDataset, loadTokenizer } from '@llm-bip/eval';
import { loadModel, saveModel } from '@llm-bip/onnx-io';
import { exportLlamaToOnnx } from '@llm-bip/model';
import { buildTinyLlama, fixtures, shared, tempDir } from '@llm-bip/testing';
import { createSession } from '@llm-bip/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../errors.js';
import { cli } from '../../capture.testutil.js';

const t = tempDir('llm-bip-cli-eval-');
const data = join(t.dir, 'data');
const env = { ...process.env, LLM_BIP_CACHE: join(t.dir, 'cache') };
let onnx: string;

beforeAll(async () => {
  mkdirSync(join(data, 'wikitext-2-raw-v1'), { recursive: true });
  const lines = readFileSync(shared('data/wikitext-2-raw-v1/wiki.test.raw'), 'utf8').split('\n').slice(0, 120);
  writeFileSync(join(data, 'wikitext-2-raw-v1', 'wiki.test.raw'), lines.join('\n'));
  mkdirSync(join(data, 'tasks', 'boolq'), { recursive: true });
  const boolq = readFileSync(shared('data/tasks/boolq/val.jsonl'), 'utf8').split('\n').slice(0, 6).join('\n');
  writeFileSync(join(data, 'tasks', 'boolq', 'val.jsonl'), `${boolq}\n`);
  // an ONNX file with its tokenizer beside it, as a user would have it
  mkdirSync(join(t.dir, 'onnx'));
  onnx = join(t.dir, 'onnx', 'model.onnx');
  await exportLlamaToOnnx(fixtures.tinyHf, onnx, { dtype: 'float32', kvCache: true });
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(fixtures.tinyHf, f), join(t.dir, 'onnx', f));
});
afterAll(() => t.cleanup());

describe('llm-bip eval', () => {
  it('perplexity through the CLI equals the eval package on the same model and text', async () => {
    const r = await cli(['eval', onnx, '--ppl', 'wikitext2', '--limit', '3', '--ep', 'cpu', '--data', data, '--json'], { env });
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    const ppl = doc.result.results.wikitext2.perplexity;
    expect(doc.result.results.wikitext2.windows).toBe(3);

    const session = await createSession(onnx, { ep: 'cpu' });
    const direct = await evaluatePerplexity(session, loadTokenizer(join(t.dir, 'onnx')), await loadTextDataset('wikitext2', join(data, 'wikitext-2-raw-v1', 'wiki.test.raw')), { seqLen: 128, limit: 3 });
    await session.release();
    // the CLI scores in the graph (float32 log-softmax head), the plain session in JS (float64): same
    // perplexity to 1e-6 relative (measured 3e-7)
    expect(r.stderr).not.toContain('scoring head was not added');
    expect(Math.abs(ppl - direct.ppl) / direct.ppl).toBeLessThan(1e-6);
    expect(ppl).not.toBe(direct.ppl); // the head really ran: float32 differs from float64 in the last digits
    // the derived head model was cleaned up
    expect(readdirSync(join(t.dir, 'onnx')).filter((f) => f.startsWith('.llm-bip-eval-'))).toEqual([]);
    // a trained model: far better than uniform over its 8,192-token vocabulary
    expect(ppl).toBeGreaterThan(1);
    expect(ppl).toBeLessThan(8192);
  });

  it('an HF checkpoint folder is exported on the fly; tasks are scored; text output is a table', async () => {
    const r = await cli(['eval', fixtures.tinyHf, '--ppl', 'none', '--tasks', 'boolq', '--limit', '4', '--ep', 'cpu', '--data', data], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/\| boolq +\|/);
    expect(r.stderr).toContain('export');
  });

  it('--task-limit cuts the tasks only; --batch-size does not change the numbers', async () => {
    const args = ['eval', onnx, '--ppl', 'wikitext2', '--tasks', 'boolq', '--task-limit', '5', '--ep', 'cpu', '--data', data, '--json'];
    const a = await cli(args, { env });
    const b = await cli([...args, '--batch-size', '3'], { env });
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    const ra = JSON.parse(a.stdout).result.results;
    const rb = JSON.parse(b.stdout).result.results;
    expect(ra.boolq.samples).toBe(5);
    expect(ra.wikitext2.windows).toBeGreaterThan(5); // the whole (shortened) set, not 5 windows
    expect(rb.wikitext2.perplexity).toBeCloseTo(ra.wikitext2.perplexity, 4);
    expect(rb.boolq.acc).toBe(ra.boolq.acc);
    const bad = await cli([...args, '--batch-size', '0'], { env });
    expect(bad.code).toBe(ExitCode.usage);
    expect(bad.stderr).toContain('--batch-size');
  });

  it('a missing dataset file is named with where it was expected (exit 3)', async () => {
    const empty = join(t.dir, 'empty');
    mkdirSync(empty);
    const r = await cli(['eval', onnx, '--ppl', 'ptb', '--ep', 'cpu', '--data', empty], { env });
    expect(r.code).toBe(ExitCode.input);
    expect(r.stderr).toContain(`dataset not found: ptb (looked in ${empty} (--data)). Fetch it with \`llm-bip data fetch ptb\``);
  });

  it('missing task files are an error, not a silent gap', async () => {
    const r = await cli(['eval', onnx, '--ppl', 'none', '--tasks', 'piqa', '--ep', 'cpu', '--data', data], { env });
    expect(r.code).toBe(ExitCode.input);
    expect(r.stderr).toContain('dataset not found: piqa');
  });

  it('a corrupt ONNX file is an input error naming the file', async () => {
    const bad = join(t.dir, 'bad.onnx');
    writeFileSync(bad, 'this is not a protobuf model');
    const r = await cli(['eval', bad, '--ppl', 'wikitext2', '--ep', 'cpu', '--data', data, '--tokenizer', fixtures.tinyHf], { env });
    expect(r.code).toBe(ExitCode.input);
    expect(r.stderr).toContain(bad);
    expect(r.stderr.split('\n').filter(Boolean)).toHaveLength(1 + (r.stderr.includes('execution provider') ? 1 : 0));
  });

  it('a missing tokenizer is named', async () => {
    const r = await cli(['eval', onnx, '--ppl', 'wikitext2', '--ep', 'cpu', '--data', data, '--tokenizer', join(t.dir, 'nope')], { env });
    expect(r.code).toBe(ExitCode.input);
    expect(r.stderr).toContain('tokenizer.json not found');
  });

  it('a tokenizer from another model (ids past the vocabulary) is refused before running', async () => {
    const small = join(t.dir, 'small');
    const tiny = await buildTinyLlama({ seed: 3, hiddenSize: 32, numLayers: 1, numHeads: 2, numKvHeads: 2, intermediateSize: 32, vocabSize: 64 }, { dir: small, dtype: 'float32', kvCache: false });
    const r = await cli(['eval', tiny.onnxPath, '--ppl', 'wikitext2', '--ep', 'cpu', '--data', data, '--tokenizer', fixtures.tinyHf], { env });
    expect(r.code).toBe(ExitCode.input);
    expect(r.stderr).toContain(`the tokenizer at ${fixtures.tinyHf} has token ids up to 8191, but ${tiny.onnxPath} has a vocabulary of 64: it is not this model's tokenizer`);
  });

  it('a model saved with the scoring head already in it: the head is not added twice, and it is still used', async () => {
    const loaded = await loadModel(onnx);
    addTokenScoringHead(loaded.model);
    const dir = join(t.dir, 'with-head');
    mkdirSync(dir);
    const withHead = join(dir, 'model.onnx');
    await saveModel(loaded.model, withHead, { sourceDir: loaded.dir });
    const r = await cli(['eval', withHead, '--ppl', 'wikitext2', '--limit', '3', '--ep', 'cpu', '--data', data, '--tokenizer', fixtures.tinyHf, '--json'], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('the in-graph scoring head was not added (the model already has a tensor named llm_bip_targets');
    const plain = await cli(['eval', onnx, '--ppl', 'wikitext2', '--limit', '3', '--ep', 'cpu', '--data', data, '--json'], { env });
    // the fallback session runs the saved head (hasScoringHead), so the numbers are the head's, bit for bit
    expect(JSON.parse(r.stdout).result.results.wikitext2.perplexity).toBe(JSON.parse(plain.stdout).result.results.wikitext2.perplexity);
  });

  it('--blocks-per-session / --max-device-memory: perplexity block by block equals the whole-model run; bad budgets are usage or input errors naming the fix; tasks too', async () => {
    const base = ['eval', onnx, '--ppl', 'wikitext2', '--limit', '3', '--ep', 'cpu', '--data', data];
    const whole = JSON.parse((await cli([...base, '--json'], { env })).stdout).result.results.wikitext2.perplexity;
    const r = await cli([...base, '--blocks-per-session', '2'], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/evaluation: block by block, 4 segments, estimated peak [\d.]+ MB \(2 block\(s\) per session, as asked\)/);
    expect(r.stderr).toMatch(/segment 4\/4: blocks 4-5/);
    const json = JSON.parse((await cli([...base, '--blocks-per-session', '2', '--json'], { env })).stdout).result;
    const blockwise = json.results.wikitext2.perplexity;
    expect(Math.abs(blockwise - whole) / whole).toBeLessThanOrEqual(1e-6);
    // the plan's per-segment estimates by part, for comparing with measured peaks (no measurement off CUDA)
    expect(json.blockwise.ep).toBe('cpu');
    expect(json.blockwise.segments.map((s: { segment: string }) => s.segment)).toEqual(['embedding', 'blocks 0-1', 'blocks 2-3', 'blocks 4-5']);
    for (const s of json.blockwise.segments) {
      expect(s.estimatedBytes).toBe(s.weightBytes + s.activationBytes + s.reserveBytes + s.overheadBytes);
      expect(s).not.toHaveProperty('measuredBytes');
    }
    expect(json.blockwise.estimatedPeakBytes).toBe(Math.max(...json.blockwise.segments.map((s: { estimatedBytes: number }) => s.estimatedBytes)));

    const small = await cli([...base, '--max-device-memory', '1MB'], { env });
    expect(small.code).toBe(ExitCode.input);
    expect(small.stderr).toMatch(/--max-device-memory 1\.0 MB is below what block \d+( with the LM head)? alone needs: about [\d.]+ MB .*Give at least/);
    const garbage = await cli([...base, '--max-device-memory', 'lots'], { env });
    expect(garbage.code).toBe(ExitCode.usage);
    expect(garbage.stderr).toContain('--max-device-memory must be a size such as 8GB');
    // tasks go block by block too, with the same accuracies
    const taskArgs = ['eval', onnx, '--ppl', 'none', '--tasks', 'boolq', '--limit', '4', '--ep', 'cpu', '--data', data, '--json'];
    const tw = JSON.parse((await cli(taskArgs, { env })).stdout).result.results.boolq;
    const tb = await cli([...taskArgs, '--blocks-per-session', '3'], { env });
    expect(tb.code, tb.stderr).toBe(0);
    expect(JSON.parse(tb.stdout).result.results.boolq).toEqual(tw);
  });

  it('tasks in --ppl are refused with the fix', async () => {
    const r = await cli(['eval', onnx, '--ppl', 'boolq'], { env });
    expect(r.code).toBe(ExitCode.usage);
    expect(r.stderr).toContain('put tasks in --tasks');
  });
});

describe('llm-bip bench', () => {
  it('reports prefill and decode tokens/s as JSON', async () => {
    const r = await cli(['bench', onnx, '--ep', 'cpu', '--prompt', '16', '--decode', '4', '--repeats', '1', '--json'], { env });
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout).result;
    expect(s.ep).toBe('cpu');
    expect(s.prefill).toHaveLength(1);
    expect(s.prefill[0]).toMatchObject({ batch: 1, seq: 16 });
    expect(s.prefill[0].tokensPerSec).toBeCloseTo(16 / (s.prefill[0].medianMs / 1000), 6);
    expect(s.decode.usedKvCache).toBe(true);
    expect(s.decode.tokensPerSec).toBeGreaterThan(0);
  });
});
