/**
 * Turns benchmark JSON (bench-results/<run>/) into the markdown tables of BENCHMARKS.md, between
 * the `<!-- tables:RUN:begin -->` / `<!-- tables:RUN:end -->` markers (or prints them with --print).
 *
 *   pnpm bench:tables bench-results/2026-11-28-h200 [--print]
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { primaryMetric, type TaskName } from '@llm-bip/eval';
import { followupTables } from './gpu-followup.js';
import { mergeResults, type QualityResults, type Row } from './quality.js';
import type { SpeedResults, SpeedRow } from './speed.js';

const fmt = (v: number | undefined, digits = 1) => (v === undefined || Number.isNaN(v) ? '–' : v.toFixed(digits));
const pct = (v: number | undefined) => (v === undefined ? '–' : `${(v * 100).toFixed(1)} %`);

function readJson<T>(path: string): T | undefined {
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as T) : undefined;
}

export function qualityTable(q: QualityResults): string {
  const sets = Object.keys(q.dense?.results ?? q.rows[0]?.results ?? {}).filter((k) => k !== 'average');
  const ppl = sets.filter((s) => 'perplexity' in (q.dense?.results[s] ?? q.rows[0]?.results[s] ?? {}));
  const tasks = sets.filter((s) => !ppl.includes(s));
  const head = ['method', 'ratio', 'seed', 'total params removed', ...ppl.map((s) => `${s} ppl`), ...tasks, ...(tasks.length ? ['average'] : [])];
  const cells = (r: Record<string, Record<string, number>>) => [
    ...ppl.map((s) => fmt(r[s]?.perplexity, 2)),
    ...tasks.map((t) => pct(r[t]?.[primaryMetric[t as TaskName] ?? 'acc'])),
    ...(tasks.length ? [pct(r.average?.primary)] : []),
  ];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i < 3 ? '---' : '---:')).join('|')}|`];
  if (q.dense) lines.push(`| dense | 0 | – | 0 | ${cells(q.dense.results).join(' | ')} |`);
  for (const r of q.rows) {
    const removed = r.params ? 1 - r.params.after / r.params.before : undefined;
    if (r.error) {
      lines.push(`| ${r.label} | ${r.ratio} | ${r.seed} | – | failed: ${r.error.slice(0, 80).replace(/\|/g, '/')} |`);
      continue;
    }
    lines.push(`| ${r.label} | ${r.ratio} | ${r.seed} | ${pct(removed)} | ${cells(r.results).join(' | ')} |`);
  }
  return lines.join('\n');
}

/** Rows measured with more than one calibration seed: the spread of each perplexity. */
export function seedSpreadTable(q: QualityResults): string {
  const groups = new Map<string, Row[]>();
  for (const r of q.rows) {
    if (r.error) continue;
    const key = `${r.method}|${r.ratio}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  const multi = [...groups.values()].filter((g) => new Set(g.map((r) => r.seed)).size > 1);
  if (!multi.length) return '';
  const sets = Object.keys(multi[0]![0]!.results).filter((k) => 'perplexity' in (multi[0]![0]!.results[k] ?? {}));
  const withAverage = multi[0]![0]!.results.average !== undefined;
  const lines = [
    `| method | ratio | seeds | ${sets.map((s) => `${s} ppl per seed | spread`).join(' | ')}${withAverage ? ' | zero-shot average per seed | max - min' : ''} |`,
    `|---|---|---|${sets.map(() => '---:|---:').join('|')}${withAverage ? '|---:|---:' : ''}|`,
  ];
  for (const g of multi) {
    const cells = sets.map((s) => {
      const v = g.map((r) => r.results[s]?.perplexity ?? Number.NaN);
      const spread = (Math.max(...v) - Math.min(...v)) / Math.min(...v);
      return `${v.map((x) => fmt(x, 2)).join(' / ')} | ${(spread * 100).toFixed(1)} %`;
    });
    if (withAverage) {
      const v = g.map((r) => r.results.average?.primary ?? Number.NaN);
      cells.push(`${v.map((x) => pct(x)).join(' / ')} | ${((Math.max(...v) - Math.min(...v)) * 100).toFixed(1)} points`);
    }
    lines.push(`| ${g[0]!.label} | ${g[0]!.ratio} | ${g.map((r) => r.seed).join(', ')} | ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export interface SpeedSummaryRow extends SpeedRow {
  /** rounds that measured this (model, EP, batch) without error */
  rounds: number;
  /** median over rounds of tok/s / the same round's dense tok/s */
  prefillVsDense?: number;
  decodeVsDense?: number;
  /** the fastest round: on a shared box, the one least slowed by others' jobs */
  prefillBestTokensPerSec?: number;
  decodeBestTokensPerSec?: number;
}

/**
 * One row per (model, EP, batch): tok/s and load time are medians over the rounds (`--rounds`), and
 * "vs dense" is the median of each round's ratio to the dense model measured in that round, so load
 * that drifts between rounds cancels. Files without rounds give their rows back one for one.
 */
export function speedSummary(rows: SpeedRow[]): SpeedSummaryRow[] {
  const key = (r: SpeedRow) => `${r.model}\u0000${r.ep}\u0000${r.batch}`;
  const groups = new Map<string, SpeedRow[]>();
  for (const r of rows) groups.set(key(r), [...(groups.get(key(r)) ?? []), r]);
  const denseOf = (r: SpeedRow) => rows.find((d) => d.model === 'dense' && d.ep === r.ep && d.batch === r.batch && d.round === r.round && !d.error);
  const ratios = (g: SpeedRow[], f: (r: SpeedRow) => number | undefined) =>
    g.flatMap((r) => {
      const a = f(r);
      const b = denseOf(r) && f(denseOf(r)!);
      return a && b ? [a / b] : [];
    });
  const values = (g: SpeedRow[], f: (r: SpeedRow) => number | undefined) => g.flatMap((r) => (f(r) === undefined ? [] : [f(r)!]));
  const med = <K extends string>(k: K, v: number[]) => (v.length ? { [k]: median(v) } : {}) as { [k in K]?: number };
  const best = <K extends string>(k: K, v: number[]) => (v.length ? { [k]: Math.max(...v) } : {}) as { [k in K]?: number };
  return [...groups.values()].map((all) => {
    // identity of the row (model, EP, batch, params, quality) from the first round; measurements from all
    const { round: _r, error, prefillTokensPerSec: _p, prefillMedianMs: _pm, decodeTokensPerSec: _d, loadMs: _l, peakRssMiB: _m, ...identity } = all[0]!;
    const g = all.filter((r) => !r.error);
    if (!g.length) return { ...identity, rounds: 0, ...(error !== undefined ? { error } : {}) };
    return {
      ...identity,
      rounds: g.length,
      ...med('prefillTokensPerSec', values(g, (r) => r.prefillTokensPerSec)),
      ...med('prefillMedianMs', values(g, (r) => r.prefillMedianMs)),
      ...med('decodeTokensPerSec', values(g, (r) => r.decodeTokensPerSec)),
      ...med('loadMs', values(g, (r) => r.loadMs)),
      ...med('peakRssMiB', values(g, (r) => r.peakRssMiB)),
      ...med('prefillVsDense', ratios(g, (r) => r.prefillTokensPerSec)),
      ...med('decodeVsDense', ratios(g, (r) => r.decodeTokensPerSec)),
      ...best('prefillBestTokensPerSec', values(g, (r) => r.prefillTokensPerSec)),
      ...best('decodeBestTokensPerSec', values(g, (r) => r.decodeTokensPerSec)),
    };
  });
}

export function speedTables(s: SpeedResults): string {
  const out: string[] = [];
  const rounds = Math.max(1, ...s.rows.map((r) => r.round ?? 1));
  const rel = (x?: number) => (x ? `${x.toFixed(2)}x` : '–');
  const summary = speedSummary(s.rows);
  if (rounds > 1) {
    // medians, then the fastest round and its ratio to the fastest dense round
    out.push(`Over ${rounds} rounds: median / fastest round. "vs dense": median of each round's ratio to that round's dense model / fastest to fastest.`, '');
    out.push('| model | params | EP | batch | prefill tok/s | vs dense | decode tok/s (KV cache) | vs dense | rounds |');
    out.push('|---|---:|---|---:|---:|---:|---:|---:|---:|');
    for (const r of summary) {
      const dense = summary.find((d) => d.model === 'dense' && d.ep === r.ep && d.batch === r.batch);
      const ratio = (a?: number, b?: number) => (a && b ? a / b : undefined);
      out.push(
        r.rounds
          ? `| ${r.model} | ${r.params?.toLocaleString('en-US') ?? '–'} | ${r.ep} | ${r.batch} | ${fmt(r.prefillTokensPerSec, 0)} / ${fmt(r.prefillBestTokensPerSec, 0)} | ${rel(r.prefillVsDense)} / ${rel(ratio(r.prefillBestTokensPerSec, dense?.prefillBestTokensPerSec))} | ${fmt(r.decodeTokensPerSec)} / ${fmt(r.decodeBestTokensPerSec)} | ${rel(r.decodeVsDense)} / ${rel(ratio(r.decodeBestTokensPerSec, dense?.decodeBestTokensPerSec))} | ${r.rounds} |`
          : `| ${r.model} | ${r.params ?? '–'} | ${r.ep} | ${r.batch} | failed: ${(r.error ?? '').slice(0, 60)} | | | | 0 |`,
      );
    }
  } else {
    out.push('| model | params | EP | batch | prefill tok/s | vs dense | decode tok/s (KV cache) | vs dense | load ms |');
    out.push('|---|---:|---|---:|---:|---:|---:|---:|---:|');
    for (const r of summary) {
      out.push(
        r.rounds
          ? `| ${r.model} | ${r.params?.toLocaleString('en-US') ?? '–'} | ${r.ep} | ${r.batch} | ${fmt(r.prefillTokensPerSec, 0)} | ${rel(r.prefillVsDense)} | ${fmt(r.decodeTokensPerSec)} | ${rel(r.decodeVsDense)} | ${fmt(r.loadMs, 0)} |`
          : `| ${r.model} | ${r.params ?? '–'} | ${r.ep} | ${r.batch} | failed: ${(r.error ?? '').slice(0, 60)} | | | | |`,
      );
    }
  }
  if (s.probe.length) {
    out.push('', '| EP | plain forward s | probe s (taps only) | probe / plain | probe keeping logits / plain | tokens |', '|---|---:|---:|---:|---:|---:|');
    for (const p of s.probe as Array<Record<string, number | string>>) {
      if (p.error) out.push(`| ${p.ep} | failed: ${String(p.error).slice(0, 80)} | | | | |`);
      else out.push(`| ${p.ep} | ${fmt(p.plainSeconds as number, 3)} | ${fmt(p.probeSeconds as number, 3)} | ${fmt(p.ratio as number, 2)}x | ${fmt(p.ratioWithLogits as number, 2)}x | ${p.tokens} |`);
    }
  }
  if (s.surgery.length) {
    out.push('', '| surgery (llm-bip global-kind + compensation) | wall s | params before | params after |', '|---|---:|---:|---:|');
    for (const x of s.surgery) out.push(`| ratio ${x.ratio} | ${fmt(x.seconds, 2)} | ${x.paramsBefore?.toLocaleString('en-US') ?? '–'} | ${x.paramsAfter?.toLocaleString('en-US') ?? '–'} |`);
  }
  return out.join('\n');
}

export function pplParityTable(p: Record<string, any>): string {
  const out = ['| EP | WikiText-2 ppl | PTB ppl | seconds |', '|---|---:|---:|---:|'];
  for (const ep of ['webgpu', 'cpu']) {
    const r = p[ep];
    if (!r) continue;
    if (r.error) out.push(`| ${ep} | failed | | |`);
    else out.push(`| ${ep} | ${fmt(r.results.wikitext2?.perplexity, 4)} | ${fmt(r.results.ptb?.perplexity, 4)} | ${fmt(r.seconds, 0)} |`);
  }
  const a = p.webgpu?.results?.wikitext2?.perplexity;
  const b = p.cpu?.results?.wikitext2?.perplexity;
  if (a && b) out.push('', `WebGPU vs CPU, WikiText-2: relative difference ${(Math.abs(a - b) / b).toExponential(2)} (target <= 1e-3).`);
  return out.join('\n');
}

/** The quality result files of a run folder: quality*.json (worker files and split runs included). */
function qualityParts(dir: string): QualityResults[] {
  if (!existsSync(dir)) return [];
  const files = readdirSync(dir).filter((f) => /^quality.*\.json$/.test(f) && !f.endsWith('-partial.json') && !/\.w\d+\.json$/.test(f)).sort();
  return files.map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as QualityResults);
}

/** The run's quality results, its files merged (see mergeResults). */
export function readQuality(dir: string): QualityResults | undefined {
  return mergeResults(qualityParts(dir));
}

/** One sentence on how a quality run was made. */
function runSentence(q: QualityResults): string {
  const c = q.config;
  const taskLimit = c.taskLimit ?? c.limit;
  const evals = String(c.eval).split(',');
  const what = [
    evals.some((e) => !(e in primaryMetric) && e !== 'none') ? `perplexity ${c.limit ? `on the first ${String(c.limit)} windows of each set` : 'on the full sets'}` : '',
    evals.some((e) => e in primaryMetric) ? `zero-shot ${taskLimit ? `on the first ${String(taskLimit)} items of each task` : 'on the full tasks'}` : '',
  ].filter(Boolean);
  return `${q.machine}, ${q.startedAt?.slice(0, 16).replace('T', ' ') ?? q.date}: \`${q.command}\`. Calibration ${String(c.samples)} x ${String(c.seqLen)} tokens of the C4 sample, seeds ${JSON.stringify(c.seeds)}; scoring EP ${String(c.scoreEp ?? c.ep)}, evaluation EP ${String(c.ep)}; ${what.join(', ') || 'plans only'}; ${q.rows.length} rows${q.dense ? ' + dense' : ''}.`;
}

/** Standard errors of the dense row's task accuracies: how far apart two rows must be to mean something. */
function stderrNote(q: QualityResults): string {
  const r = q.dense?.results ?? q.rows[0]?.results ?? {};
  const errs = Object.entries(r)
    .filter(([k]) => k in primaryMetric)
    .map(([k, v]) => v[`${primaryMetric[k as TaskName]}_stderr`])
    .filter((x): x is number => typeof x === 'number');
  if (!errs.length) return '';
  const samples = Object.entries(r).filter(([k]) => k in primaryMetric).map(([k, v]) => `${k} ${v.samples}`);
  return `Items per task: ${samples.join(', ')}. Standard error of one accuracy (dense row): ${(Math.min(...errs) * 100).toFixed(1)}–${(Math.max(...errs) * 100).toFixed(1)} points; of the ${errs.length}-task average about ${((Math.sqrt(errs.reduce((a, e) => a + e * e, 0)) / errs.length) * 100).toFixed(1)}.`;
}

export function renderRun(dir: string): string {
  const parts: string[] = [];
  const ep = readJson<{ report: string }>(join(dir, 'ep.json'));
  if (ep) parts.push(`EP policy \`auto\` on that host: ${ep.report}`);
  const ppl = readJson<Record<string, unknown>>(join(dir, 'ppl.json'));
  if (ppl) parts.push('### Perplexity, WebGPU EP vs CPU EP (dense, full sets, 128-token windows)', pplParityTable(ppl));
  const speed = readJson<SpeedResults>(join(dir, 'speed.json'));
  if (speed) parts.push(`### Speed (${speed.model}; ${speed.machine}; ${speed.date})`, `Command: \`${speed.command}\``, speedTables(speed));
  // a folder of tooling/gpu/issue13-followup.sh's records (empty for pipeline-7b.sh's, whose steps have no model tag)
  const followup = existsSync(join(dir, 'stages.jsonl')) ? followupTables(dir) : '';
  if (followup) parts.push('### Issue 13 follow-up on the GPU machine (`tooling/gpu/issue13-followup.sh`)', followup);
  const runs = qualityParts(dir);
  const quality = mergeResults(runs);
  if (quality) {
    parts.push(
      `### Quality (${basename(quality.model)})`,
      runs.length === 1
        ? `Made by: ${runSentence(quality)}`
        : `Made by ${runs.length} runs, merged by (method, ratio, seed): where two runs pruned by the same plan (equal hash of the plan's decisions) their columns are joined, otherwise the newer run's row is shown.\n${runs.map((r) => `- ${runSentence(r)}`).join('\n')}`,
      qualityTable(quality),
    );
    const note = stderrNote(quality);
    if (note) parts.push(note);
    const spread = seedSpreadTable(quality);
    if (spread) parts.push('Calibration-seed spread (same rows, seeds 0 and 1; spread = (max - min) / min):', spread);
  }
  return parts.join('\n\n');
}

function main(argv: string[]): void {
  const dir = argv.find((a) => !a.startsWith('--'));
  if (!dir) throw new Error('usage: bench:tables bench-results/RUN [--print]');
  const md = renderRun(dir);
  if (argv.includes('--print')) {
    process.stdout.write(`${md}\n`);
    return;
  }
  const run = basename(dir);
  const begin = `<!-- tables:${run}:begin -->`;
  const end = `<!-- tables:${run}:end -->`;
  const bench = readFileSync('BENCHMARKS.md', 'utf8');
  const i = bench.indexOf(begin);
  const j = bench.indexOf(end);
  const block = `${begin}\n${md}\n${end}`;
  const next = i >= 0 && j > i ? bench.slice(0, i) + block + bench.slice(j + end.length) : `${bench.trimEnd()}\n\n${block}\n`;
  writeFileSync('BENCHMARKS.md', next);
  process.stderr.write(`BENCHMARKS.md: tables of ${run} updated\n`);
}

if (process.argv[1]?.endsWith('/bench/tables.ts')) main(process.argv.slice(2));
