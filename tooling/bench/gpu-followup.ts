/**
 * The records of tooling/gpu/issue13-followup.sh read back: one summary line per step (printed on the GPU
 * host as each step ends) and the markdown tables for BENCHMARKS.md (estimate vs measured per segment,
 * scoring vs a plain forward, decode and evaluation speed of dense vs pruned vs pruned --align 64).
 *
 *   node --conditions=source --import tsx tooling/bench/gpu-followup.ts tables DIR     (DIR: the call's $OUT/f13)
 *   /tmp/llmbip/bin/node /tmp/llmbip/kit/gpu-followup.mjs line DIR STEP               (there: bundled in the kit)
 * `pnpm bench:tables DIR --print` shows the same tables (renderRun).
 *
 * DIR holds stages.jsonl (measure.py: wall, peak RSS, device-wide peak GPU memory per step), STEP.json (the
 * command's --json output) and STEP.log. Step names are KIND.TAG, TAG the model (e.g. llama2-7b-l4); KIND is
 * generate, export, score-costs (its numbers in STEP.result.json), score-BUDGET, plan-aN, prune-aN, bench-M
 * or eval-M-rK, M the model: dense, a1 (pruned as planned) or a64 (pruned with --align 64).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatBytes, type SegmentReport } from '@llm-bip/scoring';

/** One line of measure.py's stages.jsonl. */
export interface MeasureRecord {
  stage: string;
  command: string;
  exit: number;
  seconds: number;
  peak_rss_mib: number;
  peak_gpu_mib: number | null;
  gpu_baseline_mib: number | null;
}

/** The CLI's --json envelope (the fields read here). */
interface Envelope {
  ok: boolean;
  command?: string;
  result?: any;
  error?: { message: string };
}

const MIB = 2 ** 20;
const int = (v: number) => Math.round(v).toLocaleString('en-US');
const ratio = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '–' : `${v.toFixed(2)}x`);

/** The last record of each step (a step run again after a cut-off call appends a second one). */
export function readRecords(dir: string): Map<string, MeasureRecord> {
  const path = join(dir, 'stages.jsonl');
  const out = new Map<string, MeasureRecord>();
  if (!existsSync(path)) return out;
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const r = JSON.parse(line) as MeasureRecord;
    out.set(r.stage, r);
  }
  return out;
}

/**
 * A step's JSON output, undefined when absent or not JSON (a step stopped mid-write). Files of runs before
 * measure.py printed its record on stderr end with that record's line: it is dropped.
 */
export function readOutput<T = Envelope>(dir: string, file: string): T | undefined {
  const path = join(dir, file);
  if (!existsSync(path)) return undefined;
  const text = readFileSync(path, 'utf8').replace(/\n\{"stage": [^\n]*\n?$/, '\n');
  try {
    return JSON.parse(text) as T;
  } catch {
    return undefined;
  }
}

/** KIND.TAG split at the first dot (tags may hold dots, kinds do not). */
export function parseStep(name: string): { kind: string; tag: string } {
  const i = name.indexOf('.');
  return i < 0 ? { kind: name, tag: '' } : { kind: name.slice(0, i), tag: name.slice(i + 1) };
}

/** FFN widths of a plan (plan --json's layers): their range and how many are multiples of 8 and 64. */
export function widthsNote(layers: ReadonlyArray<{ channels: number }> | undefined): string {
  if (!layers?.length) return '–';
  const w = layers.map((l) => l.channels);
  const of = (k: number) => w.filter((x) => x % k === 0).length;
  const range = Math.min(...w) === Math.max(...w) ? int(w[0]!) : `${int(Math.min(...w))}–${int(Math.max(...w))}`;
  return `${range} (x8: ${of(8)}/${w.length}, x64: ${of(64)}/${w.length})`;
}

interface CostsResult {
  tokens: number;
  phases: Array<{ phase: string; seconds: number }>;
  plainTokensPerSecond: number;
  scoreOverForward: number;
}

/** session-memory.ts's output (the fields read here). */
interface SessionMemoryResult {
  results: Array<{ op: string; rows: number; opt: string; variant?: string; tableMiB: number; ranOverBeforeMiB?: number }>;
}

/** reconstruct-solve.ts's output (the fields read here). */
interface SolveResult {
  n: number;
  keep: number;
  m: number;
  backends: Record<string, Record<string, { wallS: number }>>;
  fitDifference?: Record<string, number>;
}

/** scoreModel over the plain forward, and over the plain session + forward (what eval pays besides the load). */
export function costRatios(c: CostsResult): { forward: number; withSession: number | undefined } {
  const find = (prefix: string) => c.phases.find((p) => p.phase.startsWith(prefix))?.seconds;
  const score = find('scoreModel end to end');
  const session = find('plain model session');
  const forward = find('plain forward');
  return { forward: c.scoreOverForward, withSession: score !== undefined && session !== undefined && forward !== undefined ? score / (session + forward) : undefined };
}

/** What a step's output says, in a few words. */
function detail(dir: string, name: string): string {
  const { kind } = parseStep(name);
  if (kind === 'score-costs') {
    const c = readOutput<CostsResult>(dir, `${name}.result.json`);
    if (!c) return 'no result file';
    const r = costRatios(c);
    return `scoreModel / plain forward ${ratio(r.forward)} (with the plain session ${ratio(r.withSession)}), plain ${int(c.plainTokensPerSecond)} tok/s over ${int(c.tokens)} tokens`;
  }
  if (kind === 'generate') {
    const g = readOutput<{ shape: string; layers: number; shardBytes: number; seconds: number }>(dir, `${name}.json`);
    return g ? `${g.shape}, ${g.layers} layers, ${formatBytes(g.shardBytes)} bf16 in ${g.seconds.toFixed(1)} s` : 'no output';
  }
  if (kind === 'session-mem') {
    const m = readOutput<SessionMemoryResult>(dir, `${name}.json`);
    if (!m?.results) return 'no output';
    return m.results.map((c) => `${c.variant ?? 'arena'} ${c.op} ${int(c.rows)}${c.opt === 'all' ? '' : ` (opt ${c.opt})`}: ${c.tableMiB} MiB table, +${c.ranOverBeforeMiB ?? '?'} MiB`).join('; ');
  }
  if (kind.startsWith('solve-')) {
    const v = readOutput<SolveResult>(dir, `${name}.json`);
    if (!v?.backends) return 'no output';
    const walls = Object.entries(v.backends).map(([b, steps]) => `${b} ${Object.values(steps).map((x) => x.wallS.toFixed(2)).join(' / ')} s`);
    const diff = Object.entries(v.fitDifference ?? {}).map(([k, d]) => `, fits ${k} within ${d.toExponential(1)}`).join('');
    return `${v.n} / ${v.keep} / ${v.m}: build / fit / ridge choice ${walls.join(', ')}${diff}`;
  }
  const e = readOutput(dir, `${name}.json`);
  if (!e) return 'no JSON output';
  if (!e.ok) return `failed: ${e.error?.message ?? '?'}`;
  const r = e.result;
  if (kind === 'export') return `${formatBytes(r.bytes)} ${r.dtype}, ${r.layers} layers`;
  if (kind.startsWith('score-')) {
    const s = r.scoring;
    if (!s) return 'no execution report';
    const seg: SegmentReport[] = s.segments ?? [];
    const measured = seg.flatMap((x) => (x.measuredBytes !== undefined ? [x.measuredBytes / x.estimatedBytes] : []));
    const spread = measured.length ? `, measured / estimate ${Math.min(...measured).toFixed(2)}–${Math.max(...measured).toFixed(2)}` : ', nothing measured';
    const secs = s.seconds ? `; calibration ${s.seconds.calibration.toFixed(1)} s, criterion ${s.seconds.criterion.toFixed(1)} s` : '';
    return s.mode === 'blockwise' ? `${seg.length} segments, batch ${s.batchSize}, estimated peak ${formatBytes(s.estimatedPeakBytes)}${spread}${secs}` : `whole: ${s.reason}${secs}`;
  }
  if (kind.startsWith('plan-')) return `removes ${(r.achievedRatio * 100).toFixed(1)} %, FFN widths ${widthsNote(r.layers)}`;
  if (kind.startsWith('prune-')) return `${(r.removedFraction * 100).toFixed(1)} % removed, ${int(r.parameters.after)} parameters`;
  if (kind.startsWith('bench-')) return `prefill ${int(r.prefill[0]?.tokensPerSec ?? NaN)} tok/s, decode ${r.decode ? `${r.decode.tokensPerSec.toFixed(1)} tok/s (${r.decode.msPerStep.toFixed(2)} ms/step)` : '–'}`;
  if (kind === 'pl' || kind.startsWith('pl-')) {
    const ppl = (x: { perplexity?: Record<string, number> } | undefined) => (x?.perplexity?.wikitext2 ?? NaN).toFixed(2);
    const sp = r.speed;
    const decode = sp ? `, decode ${sp.dense.decodeTokensPerSec.toFixed(1)} -> ${sp.pruned.decodeTokensPerSec.toFixed(1)} tok/s` : '';
    return `${r.run.durationSec.toFixed(1)} s inside; scoring ${(r.scoring.seconds.calibration + r.scoring.seconds.criterion).toFixed(1)} s; wikitext2 ${ppl(r.eval.dense)} -> ${ppl(r.eval.pruned)}${decode}`;
  }
  if (kind.startsWith('eval-')) {
    const p = r.details?.perplexity?.wikitext2;
    return p ? `${int(p.tokensPerSec)} tok/s over ${int(p.windows)} windows, ppl ${p.ppl.toFixed(2)}` : 'no perplexity';
  }
  return '';
}

/** The line printed when a step ends: its measure record, then what its output says. */
export function stepLine(dir: string, name: string): string {
  const rec = readRecords(dir).get(name);
  if (!rec) return `[f13] ${name}: not run`;
  const gpu = rec.peak_gpu_mib === null ? '' : `, GPU ${int(rec.peak_gpu_mib)} MiB`;
  const stopped = rec.exit === 124 || rec.exit === 137 ? ' (stopped: its time limit)' : '';
  return `[f13] ${name}: exit ${rec.exit}${stopped}, ${rec.seconds.toFixed(1)} s, RSS ${int(rec.peak_rss_mib)} MiB${gpu} | ${detail(dir, name)}`;
}

function median(v: number[]): number | undefined {
  if (!v.length) return undefined;
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const MODEL_LABEL: Record<string, string> = { dense: 'dense', a1: 'pruned 20 %', a64: 'pruned 20 %, --align 64' };

/** The markdown for one model tag. */
function tagTables(dir: string, tag: string, records: Map<string, MeasureRecord>): string {
  const steps = [...records.keys()].filter((s) => parseStep(s).tag === tag);
  const parts: string[] = [`#### ${tag}`];
  const gib = (mib: number | null | undefined) => (mib === null || mib === undefined ? '–' : formatBytes(mib * MIB));

  const rows = steps.map((s) => {
    const r = records.get(s)!;
    return `| ${parseStep(s).kind} | ${r.exit} | ${r.seconds.toFixed(1)} | ${int(r.peak_rss_mib)} | ${r.peak_gpu_mib === null ? '–' : int(r.peak_gpu_mib)} |`;
  });
  parts.push(['| step | exit | wall s | peak RSS MiB | peak GPU MiB (device-wide, over the baseline) |', '|---|---:|---:|---:|---:|', ...rows].join('\n'));

  const costs = readOutput<CostsResult>(dir, `score-costs.${tag}.result.json`);
  if (costs) {
    const r = costRatios(costs);
    parts.push(
      ['| phase | seconds |', '|---|---:|', ...costs.phases.map((p) => `| ${p.phase} | ${p.seconds.toFixed(2)} |`)].join('\n'),
      `scoreModel / plain forward **${ratio(r.forward)}** (counting the plain session: ${ratio(r.withSession)}); ${int(costs.tokens)} tokens, plain forward ${int(costs.plainTokensPerSecond)} tok/s.`,
    );
  }

  for (const s of steps.filter((x) => /^score-(?!costs$)/.test(parseStep(x).kind))) {
    const e = readOutput(dir, `${s}.json`);
    const x = e?.ok ? e.result?.scoring : undefined;
    const budget = parseStep(s).kind.slice('score-'.length);
    if (!x) {
      parts.push(`\`score --max-device-memory ${budget}\`: ${e?.error?.message ?? 'no result'}`);
      continue;
    }
    const rec = records.get(s);
    if (x.mode !== 'blockwise') {
      parts.push(`\`score --max-device-memory ${budget}\`: ran whole (${x.reason})${typeof rec?.peak_gpu_mib === 'number' ? `; peak GPU ${gib(rec.peak_gpu_mib)}` : ''}.`);
      continue;
    }
    const seg: SegmentReport[] = x.segments;
    const lines = seg.map(
      (g) =>
        `| ${g.segment} | ${formatBytes(g.weightBytes)} | ${formatBytes(g.activationBytes)} | ${formatBytes(g.reserveBytes)} | ${formatBytes(g.overheadBytes)} | ${formatBytes(g.estimatedBytes)} | ${g.measuredBytes === undefined ? '–' : formatBytes(g.measuredBytes)} | ${g.measuredBytes === undefined ? '–' : ratio(g.measuredBytes / g.estimatedBytes)} |`,
    );
    parts.push(
      `\`score --max-device-memory ${budget}\` (${x.ep} EP, ${x.batchSize} rows per run): ${x.reason}. ${typeof rec?.peak_gpu_mib === 'number' ? `Command's peak GPU (measure.py) ${gib(rec.peak_gpu_mib)} against` : 'No GPU measured;'} the largest estimate ${formatBytes(x.estimatedPeakBytes)}; wall ${rec ? rec.seconds.toFixed(1) : '–'} s.`,
      ['| segment | weights | activations | reserve | EP | estimate | measured | measured / estimate |', '|---|---:|---:|---:|---:|---:|---:|---:|', ...lines].join('\n'),
    );
  }

  const models = ['dense', 'a1', 'a64'];
  const widths = (m: string) => (m === 'dense' ? 'as exported' : widthsNote(readOutput(dir, `plan-${m}.${tag}.json`)?.result?.layers));
  const bench = models.flatMap((m) => {
    const e = readOutput(dir, `bench-${m}.${tag}.json`);
    return e?.ok ? [{ m, r: e.result }] : [];
  });
  if (bench.length) {
    const dense = bench.find((b) => b.m === 'dense')?.r;
    parts.push(
      [
        '| model | FFN widths | prefill tok/s | decode tok/s | decode ms/step | decode vs dense | load ms |',
        '|---|---|---:|---:|---:|---:|---:|',
        ...bench.map(
          ({ m, r }) =>
            `| ${MODEL_LABEL[m]} | ${widths(m)} | ${int(r.prefill[0]?.tokensPerSec ?? NaN)} | ${r.decode ? r.decode.tokensPerSec.toFixed(1) : '–'} | ${r.decode ? r.decode.msPerStep.toFixed(2) : '–'} | ${r.decode && dense?.decode ? ratio(r.decode.tokensPerSec / dense.decode.tokensPerSec) : '–'} | ${int(r.loadMs)} |`,
        ),
      ].join('\n'),
    );
  }

  // evaluation: tok/s per round, and the median of each round's ratio to that round's dense run (load that
  // drifts between rounds cancels)
  const evalOf = (m: string, k: number) => {
    const e = readOutput(dir, `eval-${m}-r${k}.${tag}.json`);
    return e?.ok ? e.result?.details?.perplexity?.wikitext2 : undefined;
  };
  const rounds = Math.max(0, ...steps.map((s) => Number(/^eval-.*-r(\d+)$/.exec(parseStep(s).kind)?.[1] ?? 0)));
  const evalRows = models.flatMap((m) => {
    const per = Array.from({ length: rounds }, (_, k) => evalOf(m, k + 1));
    if (!per.some(Boolean)) return [];
    const tps = per.map((p) => p?.tokensPerSec as number | undefined);
    const vs = median(per.flatMap((p, k) => (p && evalOf('dense', k + 1) ? [p.tokensPerSec / evalOf('dense', k + 1).tokensPerSec] : [])));
    const first = per.find(Boolean);
    return [`| ${MODEL_LABEL[m]} | ${widths(m)} | ${tps.map((t) => (t === undefined ? '–' : int(t))).join(' / ')} | ${ratio(vs)} | ${int(first.windows)} | ${first.ppl.toFixed(2)} |`];
  });
  if (evalRows.length) {
    parts.push(['| model | FFN widths | WikiText-2 tok/s, per round | vs dense (median of rounds) | windows | ppl |', '|---|---|---:|---:|---:|---:|', ...evalRows].join('\n'));
  }
  return parts.join('\n\n');
}

/** Every model tag's tables, in the order the steps ran. */
export function followupTables(dir: string): string {
  const records = readRecords(dir);
  const tags = [...new Set([...records.keys()].map((s) => parseStep(s).tag).filter(Boolean))];
  return tags.map((t) => tagTables(dir, t, records)).join('\n\n');
}

function main(argv: string[]): void {
  const [what, dir, step] = argv;
  if (what === 'line' && dir && step) process.stdout.write(`${stepLine(dir, step)}\n`);
  else if (what === 'tables' && dir) process.stdout.write(`${followupTables(dir)}\n`);
  else {
    process.stderr.write('usage: gpu-followup line DIR STEP | gpu-followup tables DIR\n');
    process.exitCode = 2;
  }
}

// run as a script (tsx here, the kit's bundle there), not when imported by tables.ts or a test
if (/gpu-followup\.(ts|mjs)$/.test(process.argv[1] ?? '')) main(process.argv.slice(2));
