/**
 * Speed benchmark (issues 4, 5, 7): dense vs pruned models (llm-bip, global-kind + compensation, at
 * each ratio) on each execution provider — prefill and decode tokens/s, session load time, peak RSS —
 * plus surgery wall time and the probe's cost against a plain forward over the same tokens.
 * Everything runs through the real CLI commands in-process; JSON is saved after every measurement.
 *
 *   pnpm bench:speed --model ../shared/testbed/bip-llama-small --out bench-results/speed.small.json
 *     [--eps cpu,webgpu] [--ratios 0.2,0.5] [--prompt 128] [--decode 32] [--batches 1,8] [--repeats 5]
 *     [--aligns 1,64,128] [--ppl-limit 200] [--rounds 3]
 * --aligns: one pruned model per ratio and FFN width alignment (plan --align N); --ppl-limit N adds the
 * WikiText-2 perplexity of every model on its first N windows (CPU EP), the quality side of alignment.
 * --rounds N measures every model N times in turn (dense, pruned..., dense, pruned...): on a shared box the
 * load drifts over minutes, and interleaving spreads that drift over all models instead of the last ones.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { probeOverhead } from '@llm-bip/scoring';
import { bench, evaluate, exportDense, planTo, pruneWith, saveAtomic, scoreTo } from './steps.js';

export interface SpeedRow {
  model: string;
  ratio: number;
  align?: number;
  ep: string;
  batch: number;
  /** 1-based measuring round (--rounds) */
  round?: number;
  params?: number;
  wikitext2?: number;
  prefillTokensPerSec?: number;
  prefillMedianMs?: number;
  decodeTokensPerSec?: number;
  loadMs?: number;
  peakRssMiB?: number;
  error?: string;
}

export interface SpeedResults {
  model: string;
  machine: string;
  date: string;
  command: string;
  config: Record<string, unknown>;
  surgery: Array<{ ratio: number; seconds: number; paramsBefore?: number; paramsAfter?: number }>;
  probe: Array<Record<string, unknown>>;
  rows: SpeedRow[];
}

function log(msg: string): void {
  process.stderr.write(`[bench:speed ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

export async function main(argv = process.argv.slice(2)): Promise<SpeedResults> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      out: { type: 'string' },
      eps: { type: 'string', default: 'cpu' },
      ratios: { type: 'string', default: '0.2,0.5' },
      prompt: { type: 'string', default: '128' },
      decode: { type: 'string', default: '32' },
      batches: { type: 'string', default: '1' },
      repeats: { type: 'string', default: '5' },
      samples: { type: 'string', default: '32' },
      data: { type: 'string' },
      machine: { type: 'string', default: 'dev box (2 cores)' },
      'no-probe': { type: 'boolean', default: false },
      aligns: { type: 'string', default: '1' },
      'ppl-limit': { type: 'string' },
      rounds: { type: 'string', default: '1' },
    },
  });
  if (!values.model || !values.out) throw new Error('usage: bench:speed --model HF_DIR --out results.json [options]');
  const eps = values.eps.split(',');
  const rounds = Number(values.rounds);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds must be a positive integer, got "${values.rounds}"`);
  const ratios = values.ratios.split(',').map(Number);
  const data = values.data ? { data: values.data } : {};
  const work = mkdtempSync(join(tmpdir(), 'llm-bip-speed-'));
  const res: SpeedResults = {
    model: values.model,
    machine: values.machine,
    date: new Date().toISOString().slice(0, 10),
    command: `pnpm bench:speed ${argv.join(' ')}`,
    config: { eps, ratios, aligns: values.aligns, pplLimit: values['ppl-limit'] ?? null, prompt: Number(values.prompt), decode: Number(values.decode), batches: values.batches, repeats: Number(values.repeats), calibrationSamples: Number(values.samples), rounds },
    surgery: [],
    probe: [],
    rows: [],
  };
  try {
    const dense = join(work, 'dense.onnx');
    log('export (KV cache)');
    await exportDense(values.model, dense, { kvCache: true, externalData: true });
    const models: Array<{ name: string; ratio: number; align?: number; path: string; params?: number; wikitext2?: number }> = [{ name: 'dense', ratio: 0, path: dense }];
    const aligns = values.aligns.split(',').map(Number);
    if (ratios.length) {
      const scores = join(work, 'scores.json');
      log('score llm-bip');
      const scored = await scoreTo(dense, values.model, { criterion: 'llm-bip', seed: 0, samples: Number(values.samples), ep: 'cpu', ...data }, scores);
      for (const ratio of ratios) {
        for (const align of aligns) {
          const plan = join(work, `plan-${ratio}-a${align}.json`);
          const planned = await planTo(scores, ratio, 'global-kind', plan, align);
          const out = join(work, `pruned-${ratio}-a${align}`);
          const t0 = Date.now();
          const { before, after } = await pruneWith(dense, planned, out, { compensation: scored });
          const seconds = (Date.now() - t0) / 1000;
          res.surgery.push({ ratio, seconds, paramsBefore: before, paramsAfter: after });
          models[0]!.params ??= before;
          const alignName = aligns.length > 1 || align > 1 ? `, align ${align}` : '';
          models.push({ name: `llm-bip global-kind ${Math.round(ratio * 100)}%${alignName}`, ratio, align, path: join(out, 'model.onnx'), params: after });
          log(`pruned ${ratio}${alignName}: ${seconds.toFixed(1)} s, params ${before} -> ${after}`);
        }
      }
    }
    if (values['ppl-limit']) {
      for (const m of models) {
        const r = await evaluate(m.path, values.model, { ppl: ['wikitext2'], tasks: [], limit: Number(values['ppl-limit']), ep: 'cpu', ...data });
        m.wikitext2 = Number((r as Record<string, { perplexity?: number }>).wikitext2?.perplexity);
        log(`${m.name}: wikitext2 ${m.wikitext2.toFixed(2)} (first ${values['ppl-limit']} windows)`);
      }
    }
    saveAtomic(values.out, res);
    for (const ep of eps) {
      if (!values['no-probe']) {
        try {
          const ids = Array.from({ length: 16 }, (_, r) => Array.from({ length: 128 }, (_, t) => 1 + ((r * 7919 + t * 104729) % 8000)));
          const p = await probeOverhead(dense, ids, ep as 'cpu' | 'webgpu' | 'cuda', { repeats: 3 });
          res.probe.push({ ...p });
          log(`probe overhead on ${ep}: ${p.ratio.toFixed(3)}x (with logits ${p.ratioWithLogits.toFixed(3)}x)`);
        } catch (e) {
          res.probe.push({ ep, error: (e as Error).message });
        }
        saveAtomic(values.out, res);
      }
      for (let round = 1; round <= rounds; round++) {
        for (const m of models) {
          for (const batch of values.batches.split(',').map(Number)) {
            const row: SpeedRow = { model: m.name, ratio: m.ratio, ...(m.align !== undefined ? { align: m.align } : {}), ep, batch, ...(rounds > 1 ? { round } : {}), ...(m.params !== undefined ? { params: m.params } : {}), ...(m.wikitext2 !== undefined ? { wikitext2: m.wikitext2 } : {}) };
            try {
              const b = await bench(m.path, { ep: ep as 'cpu', prompt: Number(values.prompt), decode: Number(values.decode), batch, repeats: Number(values.repeats) });
              row.prefillTokensPerSec = b.prefill?.[0]?.tokensPerSec;
              row.prefillMedianMs = b.prefill?.[0]?.medianMs;
              row.decodeTokensPerSec = b.decode?.tokensPerSec;
              row.loadMs = b.loadMs;
              row.peakRssMiB = b.peakRssMiB;
              log(`${rounds > 1 ? `round ${round}/${rounds} ` : ''}${m.name} ${ep} b${batch}: prefill ${row.prefillTokensPerSec?.toFixed(0)} tok/s, decode ${row.decodeTokensPerSec?.toFixed(1)} tok/s`);
            } catch (e) {
              row.error = (e as Error).message.slice(0, 500);
              log(`${m.name} ${ep}: ${row.error}`);
            }
            res.rows.push(row);
            saveAtomic(values.out, res);
          }
        }
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return res;
}

// run only when this file itself is the entry (not when bundled into the GPU job)
if (process.argv[1]?.endsWith('/bench/speed.ts')) {
  main().catch((e) => {
    process.stderr.write(`${(e as Error).stack ?? e}\n`);
    process.exit(1);
  });
}
