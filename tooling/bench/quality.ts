/**
 * Quality benchmark (issue 7): every method of the table on one HF test-bed model, with the same
 * calibration for all, through the real CLI commands (export, score, plan, prune, eval) run
 * in-process. Scores are computed once per (criterion, seed) and planned at every ratio.
 * Results go to a JSON file after every row, so a run cut short keeps what it finished;
 * `tooling/bench/tables.ts` turns the JSON into BENCHMARKS.md tables.
 *
 *   pnpm bench:quality --model ../shared/testbed/bip-llama-small --out bench-results/quality.small.json
 *     [--ratios 0.2,0.5] [--seeds 0,1] [--extra-seed-ratio 0.2|all] [--eval wikitext2,ptb,boolq,...] [--limit N] [--task-limit N]
 *     [--ep cpu] [--score-ep cpu] [--batch-size N] [--workers N] [--resume]
 *     [--methods dense,random,...] [--data DIR] [--samples 128 --seq-len 128] [--calib FILE] [--align 1]
 *
 * --align: the plans' FFN width alignment, 1 (none, as the published methods prune: the default here,
 * which keeps the tables comparable with each other and with earlier runs), a number, or auto (the CLI's
 * default: 64 on models with every FFN >= 1,024 wide).
 * --extra-seed-ratio: the seeds after the first run at this ratio only (default 0.2, said in the log), or at
 * every ratio (all).
 * --workers N splits the rows over N child processes (one ORT session each; on a GPU host several
 * small-model sessions keep the device busier than one), each writing OUT.wK.json; the parent merges.
 * --resume keeps the rows already in OUT and runs only the missing ones (a job split over several calls).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import type { TaskName } from '@llm-bip/eval';
import { parseAlign } from '@llm-bip/pipeline';
import { loadScores } from '@llm-bip/scoring';
import { evaluate, exportDense, planTo, pruneSequential, pruneWith, reconstructionInputs, saveAtomic, scoreTo, type EvalArgs, type ReconstructionInputs } from './steps.js';

export interface MethodSpec {
  id: string;
  label: string;
  criterion: string;
  /** Scores do not depend on the calibration seed (weights only): one seed is enough. */
  seedFree?: boolean;
  allocation: string;
  compensate: boolean;
  /** criterion options (e.g. the ablations' headTerm) */
  options?: Record<string, unknown>;
  /** least-squares reconstruction instead of compensation: its ridge, and calibration samples when not the scoring's */
  reconstruct?: { lambda: 'auto' | number; samples?: number };
  /** sequential pruning: the plan's allocation, each block rescored (and compensated or refit) on the pruned blocks' outputs */
  sequential?: boolean;
  /** sequential only: which groups a block keeps, by the criterion (default) or by reconstruction loss */
  select?: 'criterion' | 'reconstruction';
  /** its ridge */
  selectAlpha?: number;
  /** the kinds chosen that way (default both) */
  selectKinds?: ReadonlyArray<'heads' | 'channels'>;
  /** sequential only: rescore blocks with this criterion (the allocation stays `criterion`'s) */
  selectCriterion?: string;
  /** the fraction of head groups removed (channels take the rest of the ratio); default the ratio */
  headRatio?: number;
}

/** The rows of the quality table, in display order. */
export const METHODS: MethodSpec[] = [
  { id: 'random', label: 'random, uniform', criterion: 'random', allocation: 'uniform', compensate: false },
  { id: 'magnitude', label: 'magnitude, uniform', criterion: 'magnitude', allocation: 'uniform', compensate: false, seedFree: true },
  { id: 'wanda-sp', label: 'wanda-sp, uniform', criterion: 'wanda-sp', allocation: 'uniform', compensate: false },
  { id: 'flap', label: 'flap, AL-AM + compensation', criterion: 'flap', allocation: 'al-am', compensate: true },
  { id: 'llm-bip-uniform', label: 'llm-bip, uniform', criterion: 'llm-bip', allocation: 'uniform', compensate: false },
  { id: 'llm-bip-uniform-comp', label: 'llm-bip, uniform + compensation', criterion: 'llm-bip', allocation: 'uniform', compensate: true },
  { id: 'llm-bip-global', label: 'llm-bip, global', criterion: 'llm-bip', allocation: 'global', compensate: false },
  { id: 'llm-bip-global-comp', label: 'llm-bip, global + compensation', criterion: 'llm-bip', allocation: 'global', compensate: true },
  { id: 'llm-bip-global-kind', label: 'llm-bip, global-kind', criterion: 'llm-bip', allocation: 'global-kind', compensate: false },
  { id: 'llm-bip-global-kind-comp', label: 'llm-bip, global-kind + compensation', criterion: 'llm-bip', allocation: 'global-kind', compensate: true },
  ...reconstructionMethods(),
  {
    id: 'llm-bip-ffn-only',
    label: 'ablation: llm-bip FFN term only (heads kept), global-kind',
    criterion: 'llm-bip',
    allocation: 'global-kind',
    compensate: false,
    options: { headTerm: 'none' },
  },
  {
    id: 'llm-bip-no-lipschitz',
    label: 'ablation: llm-bip head term without (1 + L_t), global-kind',
    criterion: 'llm-bip',
    allocation: 'global-kind',
    compensate: false,
    options: { headTerm: 'direct' },
  },
  {
    id: 'llm-bip-no-lipschitz-global',
    label: 'ablation: llm-bip head term without (1 + L_t), global',
    criterion: 'llm-bip',
    allocation: 'global',
    compensate: false,
    options: { headTerm: 'direct' },
  },
];

/** Issue 16: reconstruction with the three scored criteria, and its ablations (fixed ridges, 512 samples). */
function reconstructionMethods(): MethodSpec[] {
  const gk = { criterion: 'llm-bip', allocation: 'global-kind', compensate: false } as const;
  return [
    { id: 'llm-bip-global-kind-recon', label: 'llm-bip, global-kind + reconstruction', ...gk, reconstruct: { lambda: 'auto' } },
    { id: 'flap-recon', label: 'flap, AL-AM + reconstruction', criterion: 'flap', allocation: 'al-am', compensate: false, reconstruct: { lambda: 'auto' } },
    { id: 'wanda-sp-recon', label: 'wanda-sp, uniform + reconstruction', criterion: 'wanda-sp', allocation: 'uniform', compensate: false, reconstruct: { lambda: 'auto' } },
    { id: 'llm-bip-global-recon', label: 'llm-bip, global + reconstruction', criterion: 'llm-bip', allocation: 'global', compensate: false, reconstruct: { lambda: 'auto' } },
    ...[1e-4, 1e-2, 1].map((a) => ({ id: `llm-bip-global-kind-recon-a${a}`, label: `ablation: global-kind + reconstruction, fixed alpha ${a}`, ...gk, reconstruct: { lambda: a } })),
    { id: 'llm-bip-global-kind-comp-seq', label: 'llm-bip, global-kind + compensation, sequential', criterion: 'llm-bip', allocation: 'global-kind', compensate: true, sequential: true },
    { id: 'llm-bip-global-kind-recon-seq', label: 'llm-bip, global-kind + reconstruction, sequential', ...gk, reconstruct: { lambda: 'auto' }, sequential: true },
    { id: 'llm-bip-global-kind-recon-seq-fitsel', label: 'llm-bip global-kind allocation, kept groups chosen by reconstruction loss, sequential', ...gk, reconstruct: { lambda: 'auto' }, sequential: true, select: 'reconstruction' },
    ...(['heads', 'channels'] as const).map((k) => ({ id: `llm-bip-global-kind-recon-seq-fitsel-${k}`, label: `ablation: only the ${k} chosen by reconstruction loss`, ...gk, reconstruct: { lambda: 'auto' as const }, sequential: true, select: 'reconstruction' as const, selectKinds: [k] })),
    ...[0.1, 1].map((a) => ({ id: `llm-bip-global-kind-recon-seq-fitsel-a${a}`, label: `ablation: kept groups chosen by reconstruction loss, selection ridge ${a}`, ...gk, reconstruct: { lambda: 'auto' as const }, sequential: true, select: 'reconstruction' as const, selectAlpha: a })),
    ...(['uniform', 'global'] as const).map((allocation) => ({ id: `llm-bip-${allocation}-recon-seq`, label: `llm-bip, ${allocation} + reconstruction, sequential`, criterion: 'llm-bip', allocation, compensate: false, reconstruct: { lambda: 'auto' as const }, sequential: true })),
    { id: 'llm-bip-global-kind-recon-seq-wanda-select', label: 'llm-bip global-kind allocation, blocks rescored by wanda-sp, reconstruction, sequential', ...gk, reconstruct: { lambda: 'auto' }, sequential: true, selectCriterion: 'wanda-sp' },
    { id: 'flap-recon-seq', label: 'flap, AL-AM + reconstruction, sequential', criterion: 'flap', allocation: 'al-am', compensate: false, reconstruct: { lambda: 'auto' }, sequential: true },
    { id: 'wanda-sp-recon-seq', label: 'wanda-sp, uniform + reconstruction, sequential', criterion: 'wanda-sp', allocation: 'uniform', compensate: false, reconstruct: { lambda: 'auto' }, sequential: true },
    { id: 'llm-bip-global-kind-recon-512', label: 'ablation: global-kind + reconstruction from 512 samples (plan from 128)', ...gk, reconstruct: { lambda: 'auto', samples: 512 } },
  ];
}

export interface Row {
  method: string;
  label: string;
  ratio: number;
  seed: number;
  removedFraction?: number;
  params?: { before: number; after: number };
  /** sha256 of the plan's per-layer decisions (JSON of `layers`): rows of different runs join their columns only when these agree */
  planSha256?: string;
  results: Record<string, Record<string, number>>;
  seconds: { score?: number; prune: number; eval: number };
  /** the pruning record's reconstruction summary (ridge chosen per projection) */
  reconstruction?: Record<string, unknown>;
  error?: string;
}

export interface QualityResults {
  model: string;
  machine: string;
  date: string;
  /** ISO time the run started: merging lets a later run's row replace an earlier one */
  startedAt?: string;
  command: string;
  config: Record<string, unknown>;
  dense?: { results: Record<string, Record<string, number>>; params?: number };
  rows: Row[];
}

/** One method at one seed, at all its ratios: scored once, planned and pruned per ratio. */
export interface WorkUnit {
  method: MethodSpec | 'dense';
  seed: number;
  ratios: number[];
}

let logPrefix = 'bench:quality';
function log(msg: string): void {
  process.stderr.write(`[${logPrefix} ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

/** The table's work, most important first: dense, every method at the first seed, then the extra seeds (at `extraSeedRatio`, or every ratio). */
export function workUnits(methods: readonly MethodSpec[], withDense: boolean, seeds: readonly number[], ratios: readonly number[], extraSeedRatio: number | 'all'): WorkUnit[] {
  const units: WorkUnit[] = withDense ? [{ method: 'dense', seed: seeds[0]!, ratios: [0] }] : [];
  for (const [i, seed] of seeds.entries()) {
    for (const m of methods) {
      if (i > 0 && m.seedFree) continue;
      const rs = i === 0 || extraSeedRatio === 'all' ? [...ratios] : ratios.filter((r) => r === extraSeedRatio);
      if (rs.length) units.push({ method: m, seed, ratios: rs });
    }
  }
  return units;
}

function readResults(path: string): QualityResults | undefined {
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as QualityResults) : undefined;
}

/** OUT plus the worker files of a run that was stopped before it merged them. */
function readPrevious(out: string): QualityResults | undefined {
  const dir = dirname(out);
  const workerFiles = existsSync(dir) ? readdirSync(dir).filter((f) => f.startsWith(`${basename(out)}.w`) && f.endsWith('.json')).map((f) => join(dir, f)) : [];
  return mergeResults([out, ...workerFiles].map(readResults).filter((r): r is QualityResults => r !== undefined));
}

/** Drop the rows `previous` already has (failed rows are run again). */
export function remainingUnits(units: readonly WorkUnit[], previous: QualityResults | undefined): WorkUnit[] {
  if (!previous) return [...units];
  const done = new Set(previous.rows.filter((r) => !r.error).map((r) => `${r.method}|${r.ratio}|${r.seed}`));
  return units
    .map((u) => (u.method === 'dense' ? (previous.dense ? { ...u, ratios: [] } : u) : { ...u, ratios: u.ratios.filter((r) => !done.has(`${(u.method as MethodSpec).id}|${r}|${u.seed}`)) }))
    .filter((u) => u.ratios.length > 0);
}

/** Units for worker k of n: greedy by rows (longest-processing-time first), order kept within a worker. */
export function shareOf(units: readonly WorkUnit[], k: number, n: number): WorkUnit[] {
  const load = new Array<number>(n).fill(0);
  const owner = new Map<WorkUnit, number>();
  const bySize = [...units].sort((a, b) => b.ratios.length - a.ratios.length);
  for (const u of bySize) {
    const w = load.indexOf(Math.min(...load));
    owner.set(u, w);
    load[w]! += u.ratios.length;
  }
  return units.filter((u) => owner.get(u) === k);
}

/** A method id's `-hH` ending: the base id, and H. */
const HEAD_RATIO_SUFFIX = /^(.+)-h(0?\.\d+)$/;

/**
 * A method by id: one of METHODS, or one of them with `-hH` appended (uniform and global-kind allocations):
 * the same method removing the fraction H of the head groups (allocate's headRatio), e.g.
 * llm-bip-global-kind-recon-seq-h0.625. Unknown ids are refused with the list.
 */
export function methodById(id: string): MethodSpec {
  const exact = METHODS.find((m) => m.id === id);
  if (exact) return exact;
  const m = HEAD_RATIO_SUFFIX.exec(id);
  const base = m ? METHODS.find((x) => x.id === m[1]) : undefined;
  if (m && base && (base.allocation === 'uniform' || base.allocation === 'global-kind')) {
    const headRatio = Number(m[2]);
    return { ...base, id, label: `${base.label}, ${+(headRatio * 100).toFixed(2)} % of head groups removed`, headRatio };
  }
  throw new Error(`unknown method "${id}": choose from dense, ${METHODS.map((x) => x.id).join(', ')} (a uniform or global-kind one may end in -hH: H of the head groups removed)`);
}

/** Table order: seed, ratio, then METHODS order (a -hH variant right after its method, by H). */
export function sortRows(rows: Row[]): Row[] {
  const rank = (id: string) => {
    const m = HEAD_RATIO_SUFFIX.exec(id);
    const exact = METHODS.findIndex((x) => x.id === id);
    if (exact >= 0 || !m) return exact;
    return METHODS.findIndex((x) => x.id === m[1]) + Number(m[2]) / 2;
  };
  return [...rows].sort((a, b) => a.seed - b.seed || a.ratio - b.ratio || rank(a.method) - rank(b.method));
}

/**
 * Merge partial results (worker files, or runs that measured different columns): one row per
 * (method, ratio, seed). Columns of two runs are joined when both rows come from the same plan
 * (same planSha256); a row of a different plan from a later run replaces the earlier one, and a failed
 * row never hides a good one.
 */
export function mergeResults(unordered: readonly QualityResults[]): QualityResults | undefined {
  if (!unordered.length) return undefined;
  // oldest run first (runs without a start time count as oldest), so the newest row of a key wins
  const parts = [...unordered].sort((a, b) => (a.startedAt ?? '').localeCompare(b.startedAt ?? ''));
  const rows = new Map<string, Row>();
  for (const p of parts) {
    for (const r of p.rows) {
      const key = `${r.method}|${r.ratio}|${r.seed}`;
      const old = rows.get(key);
      if (old && r.error && !old.error) continue;
      const samePlan = old && !old.error && old.planSha256 !== undefined && old.planSha256 === r.planSha256;
      rows.set(key, samePlan ? { ...old, ...r, results: { ...old.results, ...r.results } } : r);
    }
  }
  let dense: QualityResults['dense'];
  for (const p of parts) if (p.dense) dense = { ...p.dense, results: { ...dense?.results, ...p.dense.results } };
  return { ...parts[0]!, ...(dense ? { dense } : {}), rows: sortRows([...rows.values()]) };
}

export interface QualityHooks {
  /** How to start a worker: the default re-runs this process's entry script with the same Node flags. */
  workerCommand?: () => { command: string; args: string[] };
}

/** Environment variable that carries a worker's argv (works for this file and for the bundled GPU job). */
export const WORKER_ENV = 'LLM_BIP_QUALITY_WORKER_ARGV';

export async function main(argv = process.argv.slice(2), hooks: QualityHooks = {}): Promise<void> {
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
      'task-limit': { type: 'string' },
      'batch-size': { type: 'string' },
      ep: { type: 'string', default: 'cpu' },
      'score-ep': { type: 'string' },
      methods: { type: 'string' },
      data: { type: 'string' },
      calib: { type: 'string' },
      samples: { type: 'string', default: '128' },
      align: { type: 'string', default: '1' },
      'seq-len': { type: 'string', default: '128' },
      machine: { type: 'string', default: 'dev box (2 cores)' },
      work: { type: 'string' },
      'deadline-s': { type: 'string' },
      workers: { type: 'string', default: '1' },
      worker: { type: 'string' },
      resume: { type: 'boolean', default: false },
      done: { type: 'string' },
    },
  });
  if (!values.model || !values.out) throw new Error('usage: bench:quality --model HF_DIR --out results.json [options]');
  const align = parseAlign(values.align);
  if (align === undefined) throw new Error(`--align must be auto or a whole number >= 1, got "${values.align}"`);
  const ratios = values.ratios.split(',').map(Number);
  const seeds = values.seeds.split(',').map(Number);
  const extraSeedRatio = values['extra-seed-ratio'] === 'all' ? 'all' : Number(values['extra-seed-ratio']);
  if (extraSeedRatio !== 'all' && !(extraSeedRatio > 0 && extraSeedRatio < 1)) throw new Error(`--extra-seed-ratio must be a ratio in (0, 1) or all, got "${values['extra-seed-ratio']}"`);
  const skipped = extraSeedRatio === 'all' ? [] : ratios.filter((r) => r !== extraSeedRatio);
  if (seeds.length > 1 && skipped.length) log(`seeds ${seeds.slice(1).join(', ')} run at ratio ${extraSeedRatio} only, not at ${skipped.join(', ')} (--extra-seed-ratio; all: every ratio)`);
  const wanted = values.methods ? new Set(values.methods.split(',')) : undefined;
  const methods = wanted ? [...wanted].filter((id) => id !== 'dense').map(methodById) : METHODS;
  // rows already measured (--resume: OUT itself; a worker: the snapshot its parent passed in --done)
  const previous = values.done ? readResults(values.done) : values.resume ? readPrevious(values.out) : undefined;
  const allUnits = remainingUnits(workUnits(methods, !wanted || wanted.has('dense'), seeds, ratios, extraSeedRatio), previous);
  const workers = Number(values.workers);
  const started = Date.now();
  const deadline = values['deadline-s'] ? Number(values['deadline-s']) * 1000 : Infinity;
  const results: QualityResults = {
    model: values.model,
    machine: values.machine,
    date: new Date().toISOString().slice(0, 10),
    startedAt: new Date().toISOString(),
    command: `pnpm bench:quality ${argv.filter((a) => !a.startsWith('--worker=')).join(' ')}`,
    config: {
      ratios,
      seeds,
      extraSeedRatio,
      eval: values.eval,
      limit: values.limit ?? null,
      taskLimit: values['task-limit'] ?? values.limit ?? null,
      ep: values.ep,
      scoreEp: values['score-ep'] ?? values.ep,
      samples: Number(values.samples),
      seqLen: Number(values['seq-len']),
      calib: values.calib ?? null,
      align,
    },
    rows: [],
  };

  if (workers > 1 && values.worker === undefined) {
    await runWorkers(argv, values.out, workers, results, previous, hooks);
    return;
  }
  if (previous && values.worker === undefined) {
    results.rows = previous.rows.filter((r) => !r.error);
    if (previous.dense) results.dense = previous.dense;
  }
  let units = allUnits;
  if (values.worker !== undefined) {
    const [k, n] = values.worker.split('/').map(Number) as [number, number];
    units = shareOf(allUnits, k, n);
    logPrefix = `bench:quality w${k}`;
    log(`${units.length} units: ${units.map((u) => `${u.method === 'dense' ? 'dense' : u.method.id}@${u.seed}`).join(', ')}`);
  }

  const { ppl, tasks } = splitEval(values.eval);
  const list = (v: string) => (v === 'none' ? [] : v.split(',').filter(Boolean));
  const evalArgs: EvalArgs = {
    ppl: list(ppl),
    tasks: list(tasks) as TaskName[],
    ...(values.limit ? { limit: Number(values.limit) } : {}),
    ...(values['task-limit'] ? { taskLimit: Number(values['task-limit']) } : {}),
    ...(values['batch-size'] ? { batchSize: Number(values['batch-size']) } : {}),
    ep: values.ep as EvalArgs['ep'],
    ...(values.data ? { data: values.data } : {}),
  };
  const scoreEp = values['score-ep'] ?? values.ep;
  // --calib FILE: every calibration of the run (scores, reconstruction moments, sequential pass) reads it instead of C4
  const calib = values.calib ? { calib: values.calib } : {};
  // --eval none: score and plan only (e.g. to check that two machines make the same plans)
  const plansOnly = ppl === 'none' && tasks === 'none';
  const work = values.work ?? mkdtempSync(join(tmpdir(), 'llm-bip-bench-'));
  try {
    const dense = join(work, 'dense.onnx');
    log(`export ${values.model}`);
    await exportDense(values.model, dense, { externalData: true });
    const tok = values.model;
    // calibration moments for reconstruction, once per (seed, samples): every plan of the run reuses them
    const reconInputs = new Map<string, Promise<ReconstructionInputs>>();
    const reconFor = (seed: number, samples: number) => {
      const key = `${seed}|${samples}`;
      let r = reconInputs.get(key);
      if (!r) {
        log(`reconstruction moments, seed ${seed}, ${samples} samples`);
        r = reconstructionInputs(dense, tok, { seed, samples, seqLen: Number(values['seq-len']), ep: scoreEp as EvalArgs['ep'], ...(values.data ? { data: values.data } : {}), ...calib });
        reconInputs.set(key, r);
      }
      return r;
    };
    for (const unit of units) {
      if (unit.method === 'dense') {
        if (plansOnly) continue;
        log('evaluate dense');
        results.dense = { results: await evaluate(dense, tok, evalArgs) };
        saveAtomic(values.out, results);
        continue;
      }
      const m = unit.method;
      const seed = unit.seed;
      let scores: string | undefined;
      let scoreSeconds: number | undefined;
      for (const ratio of unit.ratios) {
        if (Date.now() - started > deadline) {
          log(`deadline reached: skipping ${m.id} @ ${ratio} (seed ${seed})`);
          continue;
        }
        const row: Row = { method: m.id, label: m.label, ratio, seed, results: {}, seconds: { prune: 0, eval: 0 } };
        try {
          if (!scores) {
            // methods that differ only after scoring (allocation, compensation, reconstruction) share one scores file
            const scoreKey = createHash('sha256').update(JSON.stringify([m.criterion, m.options ?? {}, seed])).digest('hex').slice(0, 16);
            scores = join(work, `scores-${scoreKey}.json`);
            if (!existsSync(scores)) {
              log(`score ${m.criterion} ${m.options ? JSON.stringify(m.options) : ''} seed ${seed}`);
              const t0 = Date.now();
              await scoreTo(dense, tok, { criterion: m.criterion, ...(m.options ? { options: m.options } : {}), seed, samples: Number(values.samples), seqLen: Number(values['seq-len']), ep: scoreEp as EvalArgs['ep'], ...(values.data ? { data: values.data } : {}), ...calib }, scores);
              scoreSeconds = (Date.now() - t0) / 1000;
              row.seconds.score = scoreSeconds;
            }
          }
          const plan = join(work, `plan-${m.id}-${ratio}-${seed}.json`);
          const planOut = await planTo(scores, ratio, m.allocation, plan, align, m.headRatio);
          row.removedFraction = Number(planOut.notes?.achievedRatio);
          row.planSha256 = planHash(plan);
          if (plansOnly) {
            results.rows.push(row);
            saveAtomic(values.out, results);
            continue;
          }
          const outDir = join(work, `pruned-${m.id}-${ratio}-${seed}`);
          log(`prune ${m.id} ratio ${ratio} seed ${seed}`);
          let t0 = Date.now();
          let pruned: { before: number; after: number; reconstruction?: Record<string, unknown> };
          if (m.sequential) {
            const seqPlan = join(work, `plan-${m.id}-${ratio}-${seed}-sequential.json`);
            pruned = await pruneSequential(dense, tok, scores, planOut, outDir, seqPlan, {
              seed,
              samples: Number(values.samples),
              seqLen: Number(values['seq-len']),
              ep: scoreEp as EvalArgs['ep'],
              ...(values.data ? { data: values.data } : {}),
              ...calib,
              compensate: m.compensate,
              ...(m.reconstruct ? { reconstruct: { lambda: m.reconstruct.lambda } } : {}),
              ...(m.select ? { select: m.select } : {}),
              ...(m.selectAlpha !== undefined ? { selectAlpha: m.selectAlpha } : {}),
              ...(m.selectKinds ? { selectKinds: m.selectKinds } : {}),
              ...(m.selectCriterion ? { selectCriterion: m.selectCriterion } : {}),
            });
            row.planSha256 = planHash(seqPlan);
          } else {
            const bias = m.reconstruct
              ? { reconstruction: await reconFor(seed, m.reconstruct.samples ?? Number(values.samples)), lambda: m.reconstruct.lambda }
              : m.compensate
                ? { compensation: await loadScores(scores) }
                : undefined;
            pruned = await pruneWith(dense, planOut, outDir, bias);
          }
          row.params = { before: pruned.before, after: pruned.after };
          if (pruned.reconstruction) row.reconstruction = pruned.reconstruction;
          row.seconds.prune = (Date.now() - t0) / 1000;
          t0 = Date.now();
          const ev = { results: await evaluate(join(outDir, 'model.onnx'), tok, evalArgs) };
          row.seconds.eval = (Date.now() - t0) / 1000;
          row.results = ev.results;
          results.rows.push(row);
          saveAtomic(values.out, results);
          log(`${m.id} @ ${ratio} (seed ${seed}) in ${row.seconds.eval.toFixed(0)} s: ${summary(ev.results)}`);
          rmSync(outDir, { recursive: true, force: true });
        } catch (e) {
          log(`${m.id} @ ${ratio} (seed ${seed}) failed: ${(e as Error).message.slice(0, 400)}`);
          results.rows.push({ ...row, error: (e as Error).message.slice(0, 1000) });
          saveAtomic(values.out, results);
        }
      }
    }
  } finally {
    if (!values.work) rmSync(work, { recursive: true, force: true });
  }
}

/** What a plan decides, without its metadata (paths, dates): equal hashes mean the same pruned model. */
export function planHash(planFile: string): string {
  const plan = JSON.parse(readFileSync(planFile, 'utf8')) as { layers: unknown };
  return createHash('sha256').update(JSON.stringify(plan.layers)).digest('hex');
}

function summary(results: Record<string, Record<string, number>>): string {
  return Object.entries(results)
    .map(([k, v]) => `${k} ${v.perplexity !== undefined ? v.perplexity.toFixed(2) : v.primary !== undefined ? v.primary.toFixed(3) : (v.acc ?? Number.NaN).toFixed(3)}`)
    .join(', ');
}

/** Spawn n workers on the same argv, wait for all, merge their files into `out` (also after each one ends). */
async function runWorkers(argv: string[], out: string, n: number, base: QualityResults, previous: QualityResults | undefined, hooks: QualityHooks): Promise<void> {
  const cmd = hooks.workerCommand?.() ?? { command: process.execPath, args: [...process.execArgv, process.argv[1]!] };
  const files = Array.from({ length: n }, (_, k) => `${out}.w${k}.json`);
  for (const f of files) rmSync(f, { force: true });
  // workers read the rows done so far from a snapshot, not from OUT, which the merges below rewrite
  const snapshot = `${out}.done.json`;
  if (previous) saveAtomic(snapshot, previous);
  const merge = () => {
    const parts = [...(previous ? [previous] : []), ...files.filter(existsSync).map((f) => JSON.parse(readFileSync(f, 'utf8')) as QualityResults)];
    const merged = mergeResults(parts);
    if (merged) saveAtomic(out, { ...merged, command: base.command, config: base.config });
  };
  log(`${n} workers: ${cmd.command} ${cmd.args.join(' ')}`);
  const codes = await Promise.all(
    files.map(
      (file, k) =>
        new Promise<number>((resolve) => {
          const own = ['--out', '--workers', '--done'];
          const kept = argv.filter((a, i) => !own.includes(a) && !own.includes(argv[i - 1] ?? '') && !own.some((o) => a.startsWith(`${o}=`)) && a !== '--resume');
          const args = [...kept, '--out', file, `--worker=${k}/${n}`, ...(previous ? ['--done', snapshot] : [])];
          const child = spawn(cmd.command, cmd.args, { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, [WORKER_ENV]: JSON.stringify(args) } });
          child.on('exit', (code) => {
            merge();
            resolve(code ?? 1);
          });
          child.on('error', () => resolve(1));
        }),
    ),
  );
  merge();
  rmSync(snapshot, { force: true });
  const failed = codes.filter((c) => c !== 0).length;
  if (failed) throw new Error(`${failed} of ${n} quality workers failed (their rows so far are in ${out})`);
}

function splitEval(list: string): { ppl: string; tasks: string } {
  const items = list.split(',').filter(Boolean);
  const ppl = items.filter((x) => ['wikitext2', 'ptb', 'ptb-test'].includes(x));
  const tasks = items.filter((x) => !ppl.includes(x));
  return { ppl: ppl.join(',') || 'none', tasks: tasks.join(',') || 'none' };
}

// run only when this file itself is the entry (not when bundled into the GPU job); a worker gets its argv from the environment
if (process.argv[1]?.endsWith('/bench/quality.ts')) {
  const workerArgv = process.env[WORKER_ENV];
  main(workerArgv ? (JSON.parse(workerArgv) as string[]) : undefined).catch((e) => {
    process.stderr.write(`${(e as Error).stack ?? e}\n`);
    process.exit(1);
  });
}
