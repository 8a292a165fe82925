import type { PerplexityResult } from './perplexity.js';
import type { SpeedResult } from './speed.js';
import type { TaskName } from './tasks/types.js';
import type { TasksResult } from './zero-shot.js';

/** Results JSON close to lm-eval's layout: results -> task -> metric -> value, plus config. */
export interface EvalReport {
  results: Record<string, Record<string, number>>;
  /** Per-task samples and timing; perplexity details. */
  details: {
    perplexity?: Record<string, Omit<PerplexityResult, 'windowNll'>>;
    tasks?: TasksResult;
    missingTasks?: { task: TaskName; files: string[] }[];
  };
  speed?: SpeedResult;
  config: Record<string, unknown>;
}

export interface ReportInput {
  perplexity?: PerplexityResult[];
  tasks?: TasksResult;
  speed?: SpeedResult;
  config: Record<string, unknown>;
}

export function buildReport(input: ReportInput): EvalReport {
  const results: EvalReport['results'] = {};
  const ppl: NonNullable<EvalReport['details']['perplexity']> = {};
  for (const p of input.perplexity ?? []) {
    results[p.dataset] = { perplexity: p.ppl, mean_nll: p.meanNll, seq_len: p.seqLen, windows: p.windows };
    const { windowNll: _drop, ...rest } = p;
    ppl[p.dataset] = rest;
  }
  if (input.tasks) {
    for (const [task, r] of Object.entries(input.tasks.results)) {
      results[task] = {
        acc: r.acc,
        acc_stderr: r.acc_stderr,
        acc_norm: r.acc_norm,
        acc_norm_stderr: r.acc_norm_stderr,
        acc_bytes: r.acc_bytes,
        acc_bytes_stderr: r.acc_bytes_stderr,
        samples: r.samples,
      };
    }
    if (Object.keys(input.tasks.results).length) results.average = { primary: input.tasks.average };
  }
  const report: EvalReport = {
    results,
    details: {
      ...(input.perplexity?.length ? { perplexity: ppl } : {}),
      ...(input.tasks ? { tasks: input.tasks, missingTasks: input.tasks.missing } : {}),
    },
    config: input.config,
  };
  if (input.speed) report.speed = input.speed;
  return report;
}

const pct = (x: number): string => (Number.isFinite(x) ? (100 * x).toFixed(2) : '-');
const num = (x: number, digits = 2): string => (Number.isFinite(x) ? x.toFixed(digits) : '-');

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  return [line(header), `|${widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`, ...rows.map(line)].join('\n');
}

/** Human-readable tables (markdown) of whatever the report holds. */
export function formatReport(input: ReportInput): string {
  const parts: string[] = [];
  if (input.perplexity?.length) {
    parts.push(
      table(
        ['dataset', 'ppl', 'windows', 'seq', 'tok/s'],
        input.perplexity.map((p) => [p.dataset, num(p.ppl), `${p.windows}/${p.windowsAvailable}`, String(p.seqLen), num(p.tokensPerSec, 0)]),
      ),
    );
  }
  if (input.tasks) {
    const rows = Object.values(input.tasks.results).map((r) => [
      r.task,
      `${pct(r.acc)} ± ${pct(r.acc_stderr)}`,
      `${pct(r.acc_norm)} ± ${pct(r.acc_norm_stderr)}`,
      r.primaryMetric,
      String(r.samples),
    ]);
    if (rows.length) rows.push(['average (primary)', '', '', pct(input.tasks.average), '']);
    parts.push(table(['task', 'acc %', 'acc_norm %', 'reported', 'n'], rows));
    for (const m of input.tasks.missing) parts.push(`${m.task}: missing ${m.files.join(', ')}`);
  }
  if (input.speed) {
    const s = input.speed;
    parts.push(
      table(
        ['prefill (batch x seq)', 'ms', 'tok/s'],
        s.prefill.map((p) => [`${p.batch} x ${p.seq}`, num(p.medianMs, 1), num(p.tokensPerSec, 0)]),
      ),
    );
    const d = s.decode
      ? `decode: ${num(s.decode.tokensPerSec, 1)} tok/s (batch ${s.decode.batch}, ${s.decode.newTokens} new tokens, ${s.decode.usedKvCache ? 'KV cache' : 'no KV cache: full recompute'})`
      : 'decode: not measured';
    parts.push(`${d}; session load ${num(s.loadMs, 0)} ms on ${s.ep}; peak RSS ${num(s.peakRssMiB, 0)} MiB`);
  }
  return parts.join('\n\n');
}
