/**
 * `llm-bip data list|fetch|verify [SET...]`: the evaluation and calibration datasets, fetched from the
 * Hugging Face Hub into the user cache (eval's data-cache functions do the work).
 */
import {
  dataCacheDir,
  dataSetNames,
  fetchDataSets,
  hubConnection,
  isDataSetName,
  listDataSets,
  verifyDataSets,
  type DataSetName,
  type FetchResult,
  type FileStatus,
  type SetStatus,
} from '@llm-bip/eval';
import { requirePositional, stringOption } from '../../args.js';
import { defineCommand, type CommandContext } from '../../command.js';
import { CliError, ExitCode, UsageError } from '../../errors.js';
import type { ProgressTask } from '../../progress.js';
import { dataOption } from '../shared-options.js';
import { dataDir } from '../model-input.js';

const ACTIONS = ['list', 'fetch', 'verify'] as const;
type Action = (typeof ACTIONS)[number];

function setsOf(ctx: Pick<CommandContext, 'positionals'>): DataSetName[] | undefined {
  const names = ctx.positionals.slice(1);
  if (!names.length) return undefined;
  const unknown = names.filter((n) => !isDataSetName(n));
  if (unknown.length) throw new UsageError(`unknown dataset ${unknown.map((n) => `"${n}"`).join(', ')}: choose from ${dataSetNames.join(', ')}`);
  return [...new Set(names as DataSetName[])];
}

function mb(bytes: number | undefined): string {
  return bytes === undefined ? '-' : `${(bytes / 1e6).toFixed(bytes < 1e7 ? 2 : 1)} MB`;
}

const sourceText: Record<string, string> = { option: '--data', env: '$LLM_BIP_DATA', cache: 'cache', dev: 'development copy', given: 'data folder' };

function listText(dir: string, endpoint: string, sets: SetStatus[]): string {
  const rows = [['set', 'cached', 'size', 'sha256', 'read from']];
  for (const s of sets) {
    const have = s.files.filter((f) => f.state !== 'missing');
    const part = s.files.find((f) => f.partBytes !== undefined);
    const cached = have.length === s.files.length ? 'yes' : part ? `partial (${mb(part.partBytes)} to resume)` : 'no';
    const size = have.length ? mb(have.reduce((a, f) => a + (f.bytes ?? 0), 0)) : '-';
    const pin = s.files.every((f) => f.pinned) ? 'pinned' : 'from the Hub';
    const from = s.resolved ? `${sourceText[s.resolved.root.kind]} (${s.resolved.files[0]})` : 'nowhere';
    rows.push([s.name, cached, size, pin, from]);
  }
  const widths = rows[0]!.map((_, j) => Math.max(...rows.map((r) => r[j]!.length)));
  const lines = [`data cache: ${dir}   (Hub: ${endpoint})`, '', ...rows.map((r) => r.map((c, j) => (j === r.length - 1 ? c : c.padEnd(widths[j]!))).join('  '))];
  const missing = sets.filter((s) => !s.resolved).map((s) => s.name);
  if (missing.length) lines.push('', `not found anywhere: ${missing.join(', ')}; fetch with \`llm-bip data fetch ${missing.join(' ')}\``);
  return lines.join('\n');
}

function fetchText(results: FetchResult[]): string {
  return results
    .map((r) => `${r.action === 'fetched' ? 'fetched' : 'cached '} ${r.set.padEnd(13)} ${r.path}  (${r.bytes.toLocaleString('en-US')} bytes, sha256 ${r.sha256.slice(0, 12)}…, ${r.pinned ? 'pinned' : 'declared by the Hub'}${r.commit ? `, commit ${r.commit.slice(0, 10)}` : ''})`)
    .join('\n');
}

function verifyText(files: FileStatus[]): string {
  const word: Record<string, string> = { ok: 'ok', corrupt: 'CORRUPT', missing: 'missing', unrecorded: 'no recorded sha256', present: 'present' };
  return files.map((f) => `${word[f.state]!.padEnd(8)} ${f.set.padEnd(13)} ${f.path}${f.state === 'corrupt' ? ` (sha256 ${f.actual?.slice(0, 12)}…, expected ${f.sha256?.slice(0, 12)}…)` : ''}`).join('\n');
}

async function runFetch(ctx: CommandContext, sets: DataSetName[] | undefined, dir: string): Promise<FetchResult[]> {
  let bar: ProgressTask | undefined;
  let label = '';
  try {
    return await fetchDataSets({
      env: ctx.env,
      dir,
      ...(sets ? { sets } : {}),
      signal: ctx.signal,
      log: (line) => ctx.log(line),
      onFile: ({ set, file, phase }) => {
        label = `${set}: ${file.repo}/${file.file}`;
        if (phase === 'done') {
          bar?.finish();
          bar = undefined;
        }
      },
      // the bar starts with the first bytes: a file already cached or a Hub that cannot be reached shows none
      onProgress: (p) => {
        bar ??= ctx.progress({ label, unit: 'kB' });
        bar.update(p.done / 1000, p.total !== undefined ? p.total / 1000 : undefined);
      },
    });
  } finally {
    bar?.finish();
  }
}

export const dataCommand = defineCommand({
  name: 'data',
  summary: 'the evaluation and calibration datasets: `data fetch` downloads them from the Hugging Face Hub into the cache',
  usage: 'list|fetch|verify [SET...] [options]',
  description:
    `Sets: ${dataSetNames.join(', ')} (default: all). \`fetch\` downloads each set's files from the Hugging Face Hub at a pinned revision ` +
    'into the data cache ($LLM_BIP_CACHE/data, else $XDG_CACHE_HOME/llm-bip/data, else ~/.cache/llm-bip/data), exactly as the Hub serves them ' +
    '(parquet, gzipped JSON lines), checked by sha256 (pinned in llm-bip where known, else the one the Hub declares, recorded for verify); ' +
    'an interrupted download resumes, and nothing appears in the cache unless its sha256 checks out. `list` shows what is cached and where each ' +
    'set is read from (--data, $LLM_BIP_DATA, the cache, then ../shared/data); `verify` hashes the cached files. ' +
    'Hub: $LLM_BIP_HUB_URL, else $HF_ENDPOINT, else https://huggingface.co; $HF_TOKEN is sent when set.',
  options: { ...dataOption },
  examples: [
    { command: 'llm-bip data fetch', explain: 'download every set into the cache' },
    { command: 'llm-bip data fetch wikitext2 ptb c4', explain: 'only what prune-llm needs by default' },
    { command: 'llm-bip data list', explain: 'what is cached, and where each set is read from' },
    { command: 'llm-bip data verify', explain: 'hash the cached files; a corrupt one is fetched again by `data fetch`' },
  ],
  async run(ctx) {
    const action = requirePositional(ctx, 0, 'ACTION', 'data', `say what to do: ${ACTIONS.map((a) => `\`llm-bip data ${a}\``).join(', ')}`);
    if (!(ACTIONS as readonly string[]).includes(action)) throw new UsageError(`data ${action}: unknown; choose one of ${ACTIONS.join(', ')}`);
    const sets = setsOf(ctx);
    const dir = dataCacheDir(ctx.env);
    switch (action as Action) {
      case 'list': {
        const location = dataDir(stringOption(ctx.values, 'data'), ctx.env);
        const status = await listDataSets({ env: ctx.env, dir, location, ...(sets ? { sets } : {}) });
        return { result: { cache: dir, hub: hubConnection(ctx.env).endpoint, sets: status }, text: listText(dir, hubConnection(ctx.env).endpoint, status) };
      }
      case 'fetch': {
        const results = await runFetch(ctx, sets, dir);
        return { result: { cache: dir, files: results }, text: fetchText(results) };
      }
      case 'verify': {
        const bar = ctx.progress({ label: 'verify (sha256)', unit: 'file' });
        let files: FileStatus[];
        try {
          files = await verifyDataSets({ env: ctx.env, dir, ...(sets ? { sets } : {}), onFile: () => bar.advance() });
        } finally {
          bar.finish();
        }
        const bad = files.filter((f) => f.state === 'corrupt' || f.state === 'unrecorded');
        if (bad.length) {
          const names = [...new Set(bad.map((f) => f.set))];
          throw new CliError(
            `${verifyText(files)}\n${bad.length} cached file${bad.length > 1 ? 's' : ''} failed the check: run \`llm-bip data fetch ${names.join(' ')}\` to fetch ${bad.length > 1 ? 'them' : 'it'} again`,
            ExitCode.input,
          );
        }
        return { result: { cache: dir, files }, text: verifyText(files) };
      }
    }
  },
});
