/**
 * Quality benchmark (issue 7): every method of the table on one HF test-bed model, with the same
 * calibration for all, through the real CLI commands (export, score, plan, prune, eval) run
 * in-process. Scores are computed once per (criterion, seed) and planned at every ratio.
 * Results go to a JSON file after every row, so a run cut short keeps what it finished;
 * `tooling/bench/tables.ts` turns the JSON into BENCHMARKS.md tables.
 *
 *   pnpm bench:quality --model ../shared/testbed/bip-llama-small --out bench-results/quality.small.json
 *     [--ratios 0.2,0.5] [--seeds 0,1] [--eval wikitext2,ptb,boolq,...] [--limit N] [--ep cpu]
 *     [--methods dense,random,...] [--data DIR] [--samples 128 --seq-len 128]
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { cli, saveAtomic } from './cli-inproc.js';

export interface MethodSpec {
  id: string;
  label: string;
  criterion: string;
  allocation: string;
  compensate: boolean;
  /** extra `score` flags (criterion options, e.g. the ablations) */
  scoreArgs?: string[];
}

/** The rows of the quality table, in display order. */
export const METHODS: MethodSpec[] = [
  { id: 'random', label: 'random, uniform', criterion: 'random', allocation: 'uniform', compensate: false },
  { id: 'magnitude', label: 'magnitude, uniform', criterion: 'magnitude', allocation: 'uniform', compensate: false },
  { id: 'wanda-sp', label: 'wanda-sp, uniform', criterion: 'wanda-sp', allocation: 'uniform', compensate: false },
  { id: 'flap', label: 'flap, AL-AM + compensation', criterion: 'flap', allocation: 'al-am', compensate: true },
  { id: 'llm-bip-uniform', label: 'llm-bip, uniform', criterion: 'llm-bip', allocation: 'uniform', compensate: false },
  { id: 'llm-bip-uniform-comp', label: 'llm-bip, uniform + compensation', criterion: 'llm-bip', allocation: 'uniform', compensate: true },
  { id: 'llm-bip-global', label: 'llm-bip, global', criterion: 'llm-bip', allocation: 'global', compensate: false },
  { id: 'llm-bip-global-comp', label: 'llm-bip, global + compensation', criterion: 'llm-bip', allocation: 'global', compensate: true },
  { id: 'llm-bip-global-kind', label: 'llm-bip, global-kind', criterion: 'llm-bip', allocation: 'global-kind', compensate: false },
  { id: 'llm-bip-global-kind-comp', label: 'llm-bip, global-kind + compensation', criterion: 'llm-bip', allocation: 'global-kind', compensate: true },
  {
    id: 'llm-bip-ffn-only',
    label: 'ablation: llm-bip FFN term only (heads kept), global-kind',
    criterion: 'llm-bip',
    allocation: 'global-kind',
    compensate: false,
    scoreArgs: ['--head-term', 'none'],
  },
  {
    id: 'llm-bip-no-lipschitz',
    label: 'ablation: llm-bip head term without (1 + L_t), global-kind',
    criterion: 'llm-bip',
    allocation: 'global-kind',
    compensate: false,
    scoreArgs: ['--head-term', 'direct'],
  },
  {
    id: 'llm-bip-no-lipschitz-global',
    label: 'ablation: llm-bip head term without (1 + L_t), global',
    criterion: 'llm-bip',
    allocation: 'global',
    compensate: false,
    scoreArgs: ['--head-term', 'direct'],
  },
];

export interface Row {
  method: string;
  label: string;
  ratio: number;
  seed: number;
  removedFraction?: number;
  params?: { before: number; after: number };
  results: Record<string, Record<string, number>>;
  seconds: { score?: number; prune: number; eval: number };
  error?: string;
}

export interface QualityResults {
  model: string;
  machine: string;
  date: string;
  command: string;
  config: Record<string, unknown>;
  dense?: { results: Record<string, Record<string, number>>; params?: number };
  rows: Row[];
}

function log(msg: string): void {
  process.stderr.write(`[bench:quality ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

export async function main(argv = process.argv.slice(2)): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      out: { type: 'string' },
      ratios: { type: 'string', default: '0.2,0.5' },
      seeds: { type: 'string', default: '0' },
      'extra-seed-ratio': { type: 'string', default: '0.2' },
      eval: { type: 'string', default: 'wikitext2,ptb' },
      limit: { type: 'string' },
      ep: { type: 'string', default: 'cpu' },
      methods: { type: 'string' },
      data: { type: 'string' },
      samples: { type: 'string', default: '128' },
      'seq-len': { type: 'string', default: '128' },
      machine: { type: 'string', default: 'dev box (2 cores)' },
      work: { type: 'string' },
      'deadline-s': { type: 'string' },
    },
  });
  if (!values.model || !values.out) throw new Error('usage: bench:quality --model HF_DIR --out results.json [options]');
  const ratios = values.ratios.split(',').map(Number);
  const seeds = values.seeds.split(',').map(Number);
  const extraSeedRatio = Number(values['extra-seed-ratio']);
  const wanted = values.methods ? new Set(values.methods.split(',')) : undefined;
  const methods = METHODS.filter((m) => !wanted || wanted.has(m.id));
  const common = [...(values.data ? ['--data', values.data] : [])];
  const evalArgs = ['--ppl', splitEval(values.eval).ppl, '--tasks', splitEval(values.eval).tasks, ...(values.limit ? ['--limit', values.limit] : [])];
  const started = Date.now();
  const deadline = values['deadline-s'] ? Number(values['deadline-s']) * 1000 : Infinity;
  const work = values.work ?? mkdtempSync(join(tmpdir(), 'llm-bip-bench-'));
  const results: QualityResults = {
    model: values.model,
    machine: values.machine,
    date: new Date().toISOString().slice(0, 10),
    command: `pnpm bench:quality ${argv.join(' ')}`,
    config: { ratios, seeds, extraSeedRatio, eval: values.eval, limit: values.limit ?? null, ep: values.ep, samples: Number(values.samples), seqLen: Number(values['seq-len']) },
    rows: [],
  };
  try {
    const dense = join(work, 'dense.onnx');
    log(`export ${values.model}`);
    await cli(['export', values.model, '-o', dense, '--external-data']);
    const tok = ['--tokenizer', values.model];
    if (!wanted || wanted.has('dense')) {
      log('evaluate dense');
      const r = await cli(['eval', dense, ...tok, ...evalArgs, '--ep', values.ep, ...common]);
      results.dense = { results: r.results };
      saveAtomic(values.out, results);
    }
    const scoreCache = new Map<string, string>();
    for (const seed of seeds) {
      for (const ratio of ratios) {
        if (seed !== seeds[0] && ratio !== extraSeedRatio) continue;
        for (const m of methods) {
          if (Date.now() - started > deadline) {
            log(`deadline reached: skipping ${m.id} @ ${ratio} (seed ${seed})`);
            continue;
          }
          try {
            const key = `${m.criterion}|${(m.scoreArgs ?? []).join(' ')}|${seed}`;
            let scores = scoreCache.get(key);
            const row: Row = { method: m.id, label: m.label, ratio, seed, results: {}, seconds: { prune: 0, eval: 0 } };
            if (!scores) {
              scores = join(work, `scores-${scoreCache.size}.json`);
              log(`score ${m.criterion} ${(m.scoreArgs ?? []).join(' ')} seed ${seed}`);
              const t0 = Date.now();
              await cli(['score', dense, ...tok, '--criterion', m.criterion, ...(m.scoreArgs ?? []), '--seed', String(seed), '--samples', values.samples, '--seq-len', values['seq-len'], '--ep', values.ep, ...common, '-o', scores]);
              row.seconds.score = (Date.now() - t0) / 1000;
              scoreCache.set(key, scores);
            }
            const plan = join(work, `plan-${m.id}-${ratio}-${seed}.json`);
            const planOut = await cli(['plan', scores, '--ratio', String(ratio), '--allocation', m.allocation, '-o', plan]);
            row.removedFraction = planOut.removedFraction ?? planOut.removed ?? undefined;
            const outDir = join(work, `pruned-${m.id}-${ratio}-${seed}`);
            log(`prune ${m.id} ratio ${ratio} seed ${seed}`);
            let t0 = Date.now();
            const pr = await cli(['prune', dense, '--plan', plan, ...(m.compensate ? ['--compensate', '--scores', scores] : []), ...tok, '-o', outDir]);
            row.seconds.prune = (Date.now() - t0) / 1000;
            if (pr.parameters) row.params = { before: pr.parameters.before?.total ?? pr.parameters.before, after: pr.parameters.after?.total ?? pr.parameters.after };
            t0 = Date.now();
            const ev = await cli(['eval', join(outDir, 'model.onnx'), ...tok, ...evalArgs, '--ep', values.ep, ...common]);
            row.seconds.eval = (Date.now() - t0) / 1000;
            row.results = ev.results;
            results.rows.push(row);
            saveAtomic(values.out, results);
            log(`${m.id} @ ${ratio} (seed ${seed}): ${JSON.stringify(ev.results.wikitext2 ?? ev.results)}`);
            rmSync(outDir, { recursive: true, force: true });
          } catch (e) {
            log(`${m.id} @ ${ratio} (seed ${seed}) failed: ${(e as Error).message.slice(0, 400)}`);
            results.rows.push({ method: m.id, label: m.label, ratio, seed, results: {}, seconds: { prune: 0, eval: 0 }, error: (e as Error).message.slice(0, 1000) });
            saveAtomic(values.out, results);
          }
        }
      }
    }
  } finally {
    if (!values.work) rmSync(work, { recursive: true, force: true });
  }
}

function splitEval(list: string): { ppl: string; tasks: string } {
  const items = list.split(',').filter(Boolean);
  const ppl = items.filter((x) => ['wikitext2', 'ptb', 'ptb-test'].includes(x));
  const tasks = items.filter((x) => !ppl.includes(x));
  return { ppl: ppl.join(',') || 'none', tasks: tasks.join(',') || 'none' };
}

// run only when this file itself is the entry (not when bundled into the GPU job)
if (process.argv[1]?.endsWith('/bench/quality.ts')) {
  main().catch((e) => {
    process.stderr.write(`${(e as Error).stack ?? e}\n`);
    process.exit(1);
  });
}

