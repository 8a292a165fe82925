/**
 * End to end on the tiny test-bed model: prune-llm from the HF checkpoint to a pruned ONNX model,
 * plan.json, results.json and report.html; the pruned model re-recognised and re-evaluated
 * independently; the report rendered in chromium; and Ctrl-C in the middle of a real run.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { evaluatePerplexity, loadTextDataset, loadTokenizer } from '@llm-bip/eval';
import { loadModel } from '@llm-bip/onnx-io';
import { countParameters, recogniseModel, validatePlan, type PruningPlan } from '@llm-bip/model';
import { createSession } from '@llm-bip/runtime';
import { fixtures, repoRoot, shared, tempDir } from '@llm-bip/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateReportData } from '../../report/validate.js';
import type { ReportData } from '../../report/types.js';
import { launchChromium } from '../../browser.testutil.js';
import { cli } from '../../capture.testutil.js';

const t = tempDir('llm-bip-cli-e2e-');
const data = join(t.dir, 'data');
const calib = join(t.dir, 'calib.jsonl');
const env = { ...process.env, LLM_BIP_CACHE: join(t.dir, 'cache') };
const out = join(t.dir, 'out');
const quick = ['--samples', '8', '--seq-len', '32', '--eval', 'wikitext2', '--limit', '3', '--prompt', '16', '--decode', '4', '--repeats', '1', '--ep', 'cpu', '--calib', calib, '--data', data];
let run: { code: number; stdout: string; stderr: string };

beforeAll(async () => {
  mkdirSync(join(data, 'wikitext-2-raw-v1'), { recursive: true });
  const wiki = readFileSync(shared('data/wikitext-2-raw-v1/wiki.test.raw'), 'utf8').split('\n').slice(0, 80).join('\n');
  writeFileSync(join(data, 'wikitext-2-raw-v1', 'wiki.test.raw'), wiki);
  writeFileSync(calib, `${readFileSync(shared('data/c4/c4_sample.jsonl'), 'utf8').split('\n').slice(0, 24).join('\n')}\n`);
  run = await cli(['prune-llm', fixtures.tinyHf, '--ratio', '0.3', '--compensate', ...quick, '-o', out, '--json'], { env });
});
afterAll(() => t.cleanup());

describe('llm-bip prune-llm (tiny test-bed model)', () => {
  it('writes the pruned model, plan, results and report, and nothing else half-done', () => {
    expect(run.code, run.stderr).toBe(0);
    expect(readdirSync(out).sort()).toEqual(
      ['model.onnx', 'model.onnx.data', 'model.onnx.pruning.json', 'plan.json', 'report.html', 'results.json', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json'].sort(),
    );
    const doc = JSON.parse(run.stdout);
    expect(doc.ok).toBe(true);
    expect(doc.result).toEqual(JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')));
  });

  it('the pruned model is a valid, smaller LLaMA whose shapes follow the plan', async () => {
    const plan = JSON.parse(readFileSync(join(out, 'plan.json'), 'utf8')) as PruningPlan;
    const loaded = await loadModel(join(out, 'model.onnx'));
    const spec = recogniseModel(loaded.model, { modelDir: loaded.dir });
    plan.layers.forEach((lp, i) => {
      expect(spec.layers[i]!.numHeads).toBe(lp.keepHeads.length);
      expect(spec.layers[i]!.numKvHeads).toBe(lp.keepKvHeads.length);
      expect(spec.layers[i]!.intermediateSize).toBe(lp.keepChannels.length);
    });
    const results = validateReportData(JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')));
    // parameter counts recomputed from the recognised pruned graph (compensation adds a bias per projection)
    const counted = countParameters(spec);
    expect(results.params.pruned.attention + results.params.pruned.mlp).toBe(counted.attention + counted.mlp);
    expect(results.params.pruned.total).toBeLessThan(results.params.dense.total);
    const removed = 1 - (results.params.pruned.attention + results.params.pruned.mlp) / (results.params.dense.attention + results.params.dense.mlp);
    expect(removed).toBeGreaterThan(0.2);
    expect(removed).toBeLessThan(0.4);
    expect(() => validatePlan(plan, { ...spec, layers: spec.layers })).toThrow(); // a plan for the dense model does not fit the pruned one
  });

  it('results.json has dense and pruned perplexities; the pruned one re-measured independently', async () => {
    const r = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as ReportData;
    const dense = r.eval!.dense.perplexity.wikitext2!;
    const pruned = r.eval!.pruned.perplexity.wikitext2!;
    expect(Number.isFinite(dense) && Number.isFinite(pruned)).toBe(true);
    const session = await createSession(join(out, 'model.onnx'), { ep: 'cpu' });
    const again = await evaluatePerplexity(session, loadTokenizer(out), await loadTextDataset('wikitext2', join(data, 'wikitext-2-raw-v1', 'wiki.test.raw')), { seqLen: 128, limit: 3 });
    await session.release();
    // the CLI scores through the in-graph float32 log-prob head, the re-measure in JS float64: 1e-6 relative
    expect(Math.abs(pruned - again.ppl) / again.ppl).toBeLessThan(1e-6);
    expect(r.speed!.dense.prefillTokensPerSec).toBeGreaterThan(0);
    expect(r.speed!.pruned.decodeTokensPerSec).toBeGreaterThan(0);
    expect(r.plan).toMatchObject({ criterion: 'llm-bip', ratio: 0.3, allocation: 'global-kind', compensation: true });
    expect(r.scores!.layers).toHaveLength(6);
  });

  it('report.html renders in chromium: one kept bar per layer, the perplexities, no network', async () => {
    const r = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as ReportData;
    const { browser, close } = await launchChromium();
    try {
      const page = await browser.newPage();
      const requests: string[] = [];
      page.on('request', (q) => requests.push(q.url()));
      const url = pathToFileURL(join(out, 'report.html')).href;
      await page.goto(url);
      expect(await page.locator('h1').innerText()).toBe('llm-bip report: bip-llama-tiny');
      expect(await page.locator('#chart-kept-heads rect.bar.kept').count()).toBe(6);
      expect(await page.locator('#chart-kept-channels rect.bar.kept').count()).toBe(6);
      expect(await page.locator('#chart-scores-channels g.dist').count()).toBe(6);
      const text = await page.locator('#quality').innerText();
      expect(text).toContain(r.eval!.dense.perplexity.wikitext2!.toPrecision(4));
      expect(requests).toEqual([url]);
      await page.screenshot({ path: join(t.dir, 'report.png'), fullPage: true });
    } finally {
      await close();
    }
  });

  it('an onnxruntime-genai graph (contrib attention, symbolic KV dims) prunes and evaluates on its own', async () => {
    const g = join(t.dir, 'genai-out');
    const r = await cli(['prune-llm', fixtures.genai, '--tokenizer', fixtures.tinyHf, '--ratio', '0.25', ...quick, '--no-bench', '-o', g, '--json'], { env });
    expect(r.code, r.stderr).toBe(0);
    const res = JSON.parse(r.stdout).result as ReportData;
    expect(res.model.flavour).toContain('onnxruntime-genai model builder');
    expect(Number.isFinite(res.eval!.pruned.perplexity.wikitext2!)).toBe(true);
    expect(res.params.pruned.attention + res.params.pruned.mlp).toBeLessThan(res.params.dense.attention + res.params.dense.mlp);
  });

  it('prune replays the plan on another export of the same model, warning that it was made for another file', async () => {
    const target = join(t.dir, 'replayed');
    const r = await cli(['prune', fixtures.torchscript, '--tokenizer', fixtures.tinyHf, '--plan', join(out, 'plan.json'), '-o', target], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('llm-bip: warning: the plan was made for another file with the same shapes');
    const spec = recogniseModel((await loadModel(join(target, 'model.onnx'))).model);
    const plan = JSON.parse(readFileSync(join(out, 'plan.json'), 'utf8')) as PruningPlan;
    expect(spec.layers.map((l) => l.intermediateSize)).toEqual(plan.layers.map((l) => l.keepChannels.length));
  });

  it('--steps 2: two rounds to the ratio, plan.json against the original model, the same files and nothing of the rounds left', async () => {
    const target = join(t.dir, 'steps');
    const r = await cli(['prune-llm', fixtures.tinyHf, '--ratio', '0.3', '--steps', '2', ...quick, '--no-bench', '-o', target, '--json'], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(target).sort()).toEqual(readdirSync(out).sort());
    const res = JSON.parse(r.stdout).result as ReportData;
    expect(res.plan.rounds!.map((x) => x.cumulative)).toEqual([0.15, 0.3]);
    const oneRound = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as ReportData;
    expect(res.params.dense).toEqual(oneRound.params.dense); // the original model, not round 1's
    const plan = JSON.parse(readFileSync(join(target, 'plan.json'), 'utf8')) as PruningPlan;
    expect(plan.model).toEqual((JSON.parse(readFileSync(join(out, 'plan.json'), 'utf8')) as PruningPlan).model);
    expect(plan.ratio).toBe(0.3);
    const spec = recogniseModel((await loadModel(join(target, 'model.onnx'))).model);
    expect(spec.layers.map((l) => [l.numHeads, l.numKvHeads, l.intermediateSize])).toEqual(plan.layers.map((l) => [l.keepHeads.length, l.keepKvHeads.length, l.keepChannels.length]));
    const removed = 1 - (res.params.pruned.attention + res.params.pruned.mlp) / (res.params.dense.attention + res.params.dense.mlp);
    expect(removed).toBeCloseTo(plan.notes!.achievedRatio as number, 6);
  });

  it('a plan for another model is refused by prune with the fix (exit 3), no output left', async () => {
    const plan = JSON.parse(readFileSync(join(out, 'plan.json'), 'utf8')) as PruningPlan;
    plan.layers[0]!.keepChannels.push(100_000);
    const bad = join(t.dir, 'bad-plan.json');
    writeFileSync(bad, JSON.stringify(plan));
    const r = await cli(['prune', join(out, 'model.onnx'), '--plan', bad, '-o', join(t.dir, 'p2')], { env });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('The plan does not match this model: make a new plan for it with `llm-bip plan`');
    expect(existsSync(join(t.dir, 'p2'))).toBe(false);
  });

  it('a missing dataset is named before any long step, and no output folder appears', async () => {
    const target = join(t.dir, 'failed');
    const args = quick.map((a) => (a === 'wikitext2' ? 'wikitext2,ptb' : a));
    const r = await cli(['prune-llm', fixtures.tinyHf, '--ratio', '0.2', ...args, '--no-bench', '-o', target], { env });
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`dataset not found: ptb (looked in ${data} (--data))`);
    expect(r.stderr).toContain('llm-bip data fetch ptb');
    expect(r.stderr).not.toContain('calibration'); // caught before calibrating
    expect(existsSync(target)).toBe(false);
  });

  it('Ctrl-C during calibration: the run ends by SIGINT (a shell reports 130), the output folder is not created', async () => {
    const target = join(t.dir, 'interrupted');
    const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', 'apps/cli/src/bin.ts', 'prune-llm', fixtures.tinyHf, '--ratio', '0.2', ...quick.map((a) => (a === '8' ? '400' : a)), '-o', target], {
      cwd: repoRoot,
      env: { ...env, LLM_BIP_CHROMIUM: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child.on('close', (code, signal) => res({ code, signal })));
    const t0 = Date.now();
    while (!stderr.includes('execution provider') && Date.now() - t0 < 60_000) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 300));
    child.kill('SIGINT');
    // exit 130 between ORT runs; during one, the process ends by the signal itself after its cleanup
    // (runtime's session host thread cannot be stopped mid-run): a shell reports 130 either way
    const end = await exited;
    expect(end.code === 130 || end.signal === 'SIGINT', JSON.stringify(end)).toBe(true);
    expect(stderr).toContain('llm-bip: interrupted (Ctrl-C); partial outputs were removed');
    expect(existsSync(target)).toBe(false);
    expect(readdirSync(t.dir).filter((n) => n.includes('.llm-bip-tmp-'))).toEqual([]);
  });
});
