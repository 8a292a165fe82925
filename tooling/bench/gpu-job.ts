/**
 * The whole GPU-machine job in one process (bundled by tooling/gpu/prepare-kit.sh into .device/kit/job.mjs and
 * run by run-job.sh there, with the carried Node 22 and onnxruntime-node's WebGPU EP):
 *   1. which EP `auto` picks on that host, and why the others failed;
 *   2. WikiText-2 perplexity of the dense model on the WebGPU EP vs the CPU EP (target: within 0.1 %);
 *   3. the speed benchmark (probe overhead, surgery, prefill/decode dense vs pruned) on CPU and WebGPU;
 *   4. the quality benchmark, until the deadline (with --quality-args "--workers N", in N processes);
 *   5. (step kv) greedy decoding with the KV cache on the WebGPU EP equals decoding without it and the
 *      CPU EP's tokens, for the dense model and an unevenly pruned one.
 * Each step writes its JSON into --out as soon as it finishes, so a cut-short call keeps the rest.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadTokenizer } from '@llm-bip/eval';
import { createSession, greedyDecode } from '@llm-bip/runtime';
import { evaluate, exportDense, planTo, pruneWith, saveAtomic, scoreTo } from './steps.js';
import { main as quality, WORKER_ENV } from './quality.js';
import { main as speed } from './speed.js';

// a quality worker (bench:quality --workers N re-runs this bundle with its argv in the environment)
const workerArgv = process.env[WORKER_ENV];
if (workerArgv) {
  await quality(JSON.parse(workerArgv) as string[]).then(
    () => process.exit(0),
    (e: unknown) => {
      process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
      process.exit(1);
    },
  );
}

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    data: { type: 'string' },
    out: { type: 'string' },
    steps: { type: 'string', default: 'ep,ppl,speed,quality' },
    'deadline-s': { type: 'string', default: '480' },
    'quality-ep': { type: 'string', default: 'webgpu' },
    'quality-args': { type: 'string', default: '' },
    'ppl-limit': { type: 'string' },
    'kv-eps': { type: 'string', default: 'webgpu,cpu' },
  },
});
const started = Date.now();
const model = values.model!;
const out = values.out!;
const data = ['--data', values.data!];
const dataOpt = { data: values.data! };
const steps = new Set(values.steps.split(','));
const scratch = mkdtempSync(join(tmpdir(), 'llm-bip-gpu-job-'));
const machine = 'GPU machine: NVIDIA H200, 16 cores (onnxruntime-node 1.30, Node 22)';
const log = (m: string) => process.stderr.write(`[gpu-job +${((Date.now() - started) / 1000).toFixed(0)}s] ${m}\n`);

async function step(name: string, fn: () => Promise<unknown>): Promise<void> {
  if (!steps.has(name)) return;
  log(`step ${name}`);
  try {
    const r = await fn();
    if (r !== undefined) saveAtomic(join(out, `${name}.json`), r);
  } catch (e) {
    log(`step ${name} failed: ${(e as Error).stack ?? e}`);
    saveAtomic(join(out, `${name}.error.json`), { error: String((e as Error).stack ?? e) });
  }
}

await step('ep', async () => {
  const lines: string[] = [];
  const dense = join(scratch, 'ep-probe.onnx');
  await exportDense(model, dense);
  const s = await createSession(dense, { ep: 'auto', onLog: (l) => lines.push(l) });
  const r = { ep: s.ep, report: s.epReport, lines };
  await s.release();
  log(JSON.stringify(r));
  return r;
});

await step('ppl', async () => {
  const dense = join(scratch, 'ppl-dense.onnx');
  await exportDense(model, dense);
  const r: Record<string, unknown> = { machine, model };
  for (const ep of ['webgpu', 'cpu']) {
    const t0 = Date.now();
    try {
      const ev = { results: await evaluate(dense, model, { ppl: ['wikitext2', 'ptb'], tasks: [], ep: ep as 'cpu', ...dataOpt, ...(values['ppl-limit'] ? { limit: Number(values['ppl-limit']) } : {}) }) };
      r[ep] = { results: ev.results, seconds: (Date.now() - t0) / 1000 };
      log(`${ep}: ${JSON.stringify(ev.results)} in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    } catch (e) {
      r[ep] = { error: String((e as Error).message).slice(0, 2000) };
      log(`${ep} failed: ${(e as Error).message.slice(0, 500)}`);
    }
  }
  return r;
});

await step('speed', () =>
  speed(['--model', model, '--out', join(out, 'speed.json'), '--eps', 'cpu,webgpu', '--batches', '1,8', '--machine', machine, ...data]).then(() => undefined),
);

await step('quality', () => {
  const left = Number(values['deadline-s']) - (Date.now() - started) / 1000;
  return quality([
    '--model', model, '--out', join(out, 'quality.json'), '--ep', values['quality-ep'], '--machine', machine,
    '--deadline-s', String(Math.max(0, left)), ...data, ...values['quality-args'].split(' ').filter(Boolean),
  ]).then(() => undefined);
});
await step('kv', async () => {
  const dense = join(scratch, 'kv-dense.onnx');
  await exportDense(model, dense, { kvCache: true });
  const scores = join(scratch, 'kv-scores.json');
  const plan = join(scratch, 'kv-plan.json');
  const scored = await scoreTo(dense, model, { criterion: 'llm-bip', seed: 0, samples: 32, ep: 'cpu', ...dataOpt }, scores);
  await pruneWith(dense, await planTo(scores, 0.5, 'global-kind', plan), join(scratch, 'kv-pruned'), scored);
  const headsKept = (JSON.parse(readFileSync(plan, 'utf8')) as { layers: { keepHeads: number[] }[] }).layers.map((l) => l.keepHeads.length);
  log(`pruned model: heads kept per layer ${headsKept.join(', ')}`);
  const tokenizer = loadTokenizer(model);
  const prompts = ['The history of the city', 'In 1905 , the company', 'She was born in', 'The river flows through'].map((t) => tokenizer.encode(t).slice(0, 5));
  const rows: Record<string, unknown>[] = [];
  for (const [name, file] of [['dense', dense], ['llm-bip global-kind 50 % (uneven heads per layer)', join(scratch, 'kv-pruned', 'model.onnx')]] as const) {
    const tokens: Record<string, number[][]> = {};
    const eps = values['kv-eps'].split(',') as ('webgpu' | 'cpu')[];
    for (const ep of eps) {
      const s = await createSession(file, { ep });
      tokens[`${ep} cache`] = (await greedyDecode(s, prompts, { maxNewTokens: 32 })).tokens;
      tokens[`${ep} no cache`] = (await greedyDecode(s, prompts, { maxNewTokens: 32, useKvCache: false })).tokens;
      await s.release();
    }
    const ref = JSON.stringify(tokens[`${eps[0]} cache`]);
    const row = { model: name, prompts: prompts.length, newTokens: 32, equal: Object.fromEntries(Object.entries(tokens).map(([k, v]) => [k, JSON.stringify(v) === ref])), sample: tokenizer.decode([...prompts[0]!, ...tokens[`${eps[0]} cache`]![0]!]) };
    log(JSON.stringify(row));
    rows.push(row);
  }
  return { machine, headsKeptPerLayer: headsKept, rows };
});
log('done');
