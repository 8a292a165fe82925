/**
 * The whole GPU-machine job in one process (bundled by tooling/gpu/prepare-kit.sh into .device/kit/job.mjs and
 * run by run-job.sh there, with the carried Node 22 and onnxruntime-node's WebGPU EP):
 *   1. which EP `auto` picks on that host, and why the others failed;
 *   2. WikiText-2 perplexity of the dense model on the WebGPU EP vs the CPU EP (target: within 0.1 %);
 *   3. the speed benchmark (probe overhead, surgery, prefill/decode dense vs pruned) on CPU and WebGPU;
 *   4. the quality benchmark, until the deadline (with --quality-args "--workers N", in N processes);
 *   5. (step kv) greedy decoding with the KV cache on the WebGPU EP equals decoding without it and the
 *      CPU EP's tokens, for the dense model and an unevenly pruned one.
 * CUDA EP (issue 12; the kit built with `prepare-kit.sh --cuda`):
 *   setup     `llm-bip setup cuda --from <the carried provider package>` (the host reaches no registry);
 *   ppl       takes --ppl-eps (e.g. cuda,webgpu,cpu) and --ppl-dtypes (fp32,fp16);
 *   stats     LLM-BIP statistics and plans on each of --stats-eps, compared with the first;
 *   prunellm  `llm-bip prune-llm MODEL --ratio 0.2 --ep cuda` end to end;
 *   speed     takes --speed-eps.
 * Each step writes its JSON into --out as soon as it finishes, so a cut-short call keeps the rest.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadTokenizer } from '@llm-bip/eval';
import { createSession, greedyDecode } from '@llm-bip/runtime';
import { cli } from './cli-inproc.js';
import { saveAtomic } from './steps.js';
import { main as quality, WORKER_ENV } from './quality.js';
import { main as speed } from './speed.js';

// `node job.mjs cli COMMAND ...`: the real CLI (signal handling, progress on stderr), one command per
// process, so tooling/gpu/pipeline-7b.sh measures each stage's own peak RSS and GPU memory
if (process.argv[2] === 'cli') {
  const { runCli } = await import('../../apps/cli/src/main.js');
  process.exit(await runCli(process.argv.slice(3), { handleSignals: true }));
}

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
    'ppl-eps': { type: 'string', default: 'webgpu,cpu' },
    'ppl-dtypes': { type: 'string', default: 'fp32' },
    'ppl-eps-fp16': { type: 'string' },
    'stats-eps': { type: 'string', default: 'cuda,cpu' },
    'speed-eps': { type: 'string', default: 'cpu,webgpu' },
    'speed-repeats': { type: 'string', default: '5' },
    'speed-aligns': { type: 'string', default: '1' },
    'speed-ppl-limit': { type: 'string' },
    'cuda-from': { type: 'string' },
    'setup-args': { type: 'string', default: '' },
    'dtype-eps': { type: 'string', default: 'cuda' },
  },
});
const started = Date.now();
const model = values.model!;
const out = values.out!;
const data = ['--data', values.data!];
const steps = new Set(values.steps.split(','));
const scratch = mkdtempSync(join(tmpdir(), 'llm-bip-gpu-job-'));
const ortVersion = (createRequire(import.meta.url)('onnxruntime-node/package.json') as { version: string }).version;
const machine = `GPU machine: NVIDIA H200, 16 cores (onnxruntime-node ${ortVersion}, Node ${process.versions.node.split('.')[0]})`;
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

await step('setup', async () => {
  if (!values['cuda-from']) throw new Error('step setup needs --cuda-from PROVIDER.tar');
  return cli(['setup', 'cuda', '--from', values['cuda-from'], ...values['setup-args'].split(' ').filter(Boolean)]);
});

await step('ep', async () => {
  const lines: string[] = [];
  const dense = join(scratch, 'ep-probe.onnx');
  await cli(['export', model, '-o', dense]);
  const s = await createSession(dense, { ep: 'auto', onLog: (l) => lines.push(l) });
  // which CUDA libraries this process actually mapped (where they came from)
  const mapped = [...new Set(readFileSync('/proc/self/maps', 'utf8').split('\n').map((l) => l.split(/\s+/)[5] ?? '').filter((f) => /lib(cudart|cublas|cublasLt|curand|cufft|cudnn)\.so/.test(f)))];
  const r = { ep: s.ep, report: s.epReport, lines, mapped };
  await s.release();
  log(JSON.stringify(r));
  return r;
});

await step('ppl', async () => {
  const r: Record<string, unknown> = { machine, model };
  for (const dtype of values['ppl-dtypes'].split(',')) {
    const dense = join(scratch, `ppl-dense-${dtype}.onnx`);
    await cli(['export', model, '-o', dense, '--dtype', dtype]);
    for (const ep of (dtype === 'fp16' ? (values['ppl-eps-fp16'] ?? values['ppl-eps']) : values['ppl-eps']).split(',')) {
      const key = dtype === 'fp32' ? ep : `${ep} ${dtype}`;
      const t0 = Date.now();
      try {
        const ev = await cli(['eval', dense, '--tokenizer', model, '--ppl', 'wikitext2,ptb', '--tasks', 'none', '--ep', ep, ...data, ...(values['ppl-limit'] ? ['--limit', values['ppl-limit']] : [])]);
        r[key] = { results: ev.results, seconds: (Date.now() - t0) / 1000 };
        log(`${key}: ${JSON.stringify(ev.results)} in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
      } catch (e) {
        r[key] = { error: String((e as Error).message).slice(0, 2000) };
        log(`${key} failed: ${(e as Error).message.slice(0, 500)}`);
      }
    }
  }
  return r;
});

/** Largest relative difference between the numbers of two JSON documents of the same shape. */
function maxRelDiff(a: unknown, b: unknown, path = ''): { rel: number; at: string } {
  if (typeof a === 'number' && typeof b === 'number') {
    const d = Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b), 1e-30);
    return { rel: a === b ? 0 : d, at: path };
  }
  if (Array.isArray(a) && Array.isArray(b) && a.length === b.length) {
    return a.reduce<{ rel: number; at: string }>((m, x, i) => { const d = maxRelDiff(x, b[i], `${path}[${i}]`); return d.rel > m.rel ? d : m; }, { rel: 0, at: path });
  }
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    let m = { rel: 0, at: path };
    for (const k of Object.keys(a)) {
      if (['machine', 'ep', 'epReport', 'executionProvider', 'seconds', 'wallMs', 'createdAt', 'timing', 'model', 'source'].includes(k)) continue;
      const d = maxRelDiff((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${path}.${k}`);
      if (d.rel > m.rel) m = d;
    }
    return m;
  }
  return JSON.stringify(a) === JSON.stringify(b) ? { rel: 0, at: path } : { rel: Number.POSITIVE_INFINITY, at: path };
}

/** Largest max|a-b| / max|a| over the numeric arrays of two JSON documents (signed sums cancel; this does not). */
function maxNormwiseDiff(a: unknown, b: unknown, path = ''): { rel: number; at: string } {
  if (Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x) => typeof x === 'number')) {
    const scale = Math.max(...(a as number[]).map(Math.abs), 1e-30);
    const diff = Math.max(0, ...(a as number[]).map((x, i) => Math.abs(x - (b[i] as number))));
    return { rel: diff / scale, at: path };
  }
  let m = { rel: 0, at: path };
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    for (const k of Object.keys(a)) {
      const d = maxNormwiseDiff((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${path}.${k}`);
      if (d.rel > m.rel) m = d;
    }
  }
  return m;
}

await step('stats', async () => {
  const dense = join(scratch, 'stats-dense.onnx');
  await cli(['export', model, '-o', dense]);
  const eps = values['stats-eps'].split(',');
  const scores: Record<string, unknown> = {};
  const plans: Record<string, Record<string, unknown>> = {};
  const seconds: Record<string, number> = {};
  for (const ep of eps) {
    const file = join(scratch, `stats-${ep}.json`);
    const t0 = Date.now();
    await cli(['score', dense, '--tokenizer', model, '--samples', '128', '--ep', ep, ...data, '-o', file]);
    seconds[ep] = (Date.now() - t0) / 1000;
    scores[ep] = JSON.parse(readFileSync(file, 'utf8'));
    plans[ep] = {};
    for (const [alloc, ratio] of [['global-kind', '0.2'], ['global-kind', '0.5'], ['uniform', '0.2'], ['global', '0.2']] as const) {
      const planFile = join(scratch, `plan-${ep}-${alloc}-${ratio}.json`);
      await cli(['plan', file, '--ratio', ratio, '--allocation', alloc, '-o', planFile]);
      plans[ep]![`${alloc} ${ratio}`] = (JSON.parse(readFileSync(planFile, 'utf8')) as { layers: unknown }).layers;
    }
  }
  const ref = eps[0]!;
  const rows = eps.slice(1).map((ep) => ({
    ep,
    vs: ref,
    statisticsMaxNormwiseDiff: maxNormwiseDiff((scores[ref] as { statistics: unknown }).statistics, (scores[ep] as { statistics: unknown }).statistics),
    statisticsMaxRelDiff: maxRelDiff((scores[ref] as { statistics: unknown }).statistics, (scores[ep] as { statistics: unknown }).statistics),
    scoresMaxRelDiff: maxRelDiff((scores[ref] as { scores: unknown }).scores, (scores[ep] as { scores: unknown }).scores),
    plansEqual: Object.fromEntries(Object.keys(plans[ref]!).map((k) => [k, JSON.stringify(plans[ref]![k]) === JSON.stringify(plans[ep]![k])])),
  }));
  const r = { machine, model, samples: 128, seconds, rows };
  log(JSON.stringify(r));
  return r;
});

// fp16 vs fp32 on each of --dtype-eps: prefill and KV-cache decode, batch 8 x 128-token prompts, 32 new tokens
await step('dtype', async () => {
  const rows: Record<string, unknown>[] = [];
  const prompts = Array.from({ length: 8 }, (_, r) => Array.from({ length: 128 }, (_, i) => 1 + ((r * 131 + i * 17) % 8000)));
  for (const dtype of ['fp32', 'fp16']) {
    const file = join(scratch, `dtype-${dtype}.onnx`);
    await cli(['export', model, '-o', file, '--dtype', dtype, '--kv-cache']);
    for (const ep of values['dtype-eps'].split(',') as ('cuda' | 'webgpu' | 'cpu')[]) {
      const s = await createSession(file, { ep, kvOnDevice: true });
      await greedyDecode(s, prompts, { maxNewTokens: 4 }); // warm-up
      const runs: Awaited<ReturnType<typeof greedyDecode>>[] = [];
      for (let i = 0; i < 3; i++) runs.push(await greedyDecode(s, prompts, { maxNewTokens: 32 }));
      await s.release();
      const median = (xs: number[]) => xs.sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
      const row = {
        dtype, ep, batch: 8, prompt: 128, newTokens: 32,
        prefillTokPerSec: Math.round((8 * 128 * 1000) / median(runs.map((r) => r.prefillMs))),
        decodeTokPerSec: Math.round((8 * runs[0]!.decodeSteps * 1000) / median(runs.map((r) => r.decodeMs)) * 10) / 10,
        sameTokensAsFirstRun: runs.every((r) => JSON.stringify(r.tokens) === JSON.stringify(runs[0]!.tokens)),
      };
      log(JSON.stringify(row));
      rows.push(row);
    }
  }
  return { machine, model, rows };
});

await step('prunellm', async () => {
  const t0 = Date.now();
  const r = await cli(['prune-llm', model, '--ratio', '0.2', '--ep', 'cuda', '--no-bench', ...data, '-o', join(scratch, 'prunellm-cuda')]);
  return { machine, model, command: `llm-bip prune-llm ${model} --ratio 0.2 --ep cuda --no-bench -o OUT`, seconds: (Date.now() - t0) / 1000, result: r };
});

await step('speed', () =>
  speed(['--model', model, '--out', join(out, 'speed.json'), '--eps', values['speed-eps'], '--batches', '1,8', '--repeats', values['speed-repeats'], '--aligns', values['speed-aligns'], ...(values['speed-ppl-limit'] ? ['--ppl-limit', values['speed-ppl-limit']] : []), '--machine', machine, ...data]).then(() => undefined),
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
  await cli(['export', model, '-o', dense, '--kv-cache']);
  const scores = join(scratch, 'kv-scores.json');
  const plan = join(scratch, 'kv-plan.json');
  await cli(['score', dense, '--tokenizer', model, '--samples', '32', '--ep', 'cpu', ...data, '-o', scores]);
  await cli(['plan', scores, '--ratio', '0.5', '--allocation', 'global-kind', '-o', plan]);
  await cli(['prune', dense, '--plan', plan, '--compensate', '--scores', scores, '--tokenizer', model, '-o', join(scratch, 'kv-pruned')]);
  const headsKept = (JSON.parse(readFileSync(plan, 'utf8')) as { layers: { keepHeads: number[] }[] }).layers.map((l) => l.keepHeads.length);
  log(`pruned model: heads kept per layer ${headsKept.join(', ')}`);
  const tokenizer = loadTokenizer(model);
  const prompts = ['The history of the city', 'In 1905 , the company', 'She was born in', 'The river flows through'].map((t) => tokenizer.encode(t).slice(0, 5));
  const rows: Record<string, unknown>[] = [];
  for (const [name, file] of [['dense', dense], ['llm-bip global-kind 50 % (uneven heads per layer)', join(scratch, 'kv-pruned', 'model.onnx')]] as const) {
    const tokens: Record<string, number[][]> = {};
    const eps = values['kv-eps'].split(',') as ('cuda' | 'webgpu' | 'cpu')[];
    for (const ep of eps) {
      const s = await createSession(file, { ep, kvOnDevice: true });
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
