/**
 * renderReport: ReportData -> one self-contained HTML page. Pure (no IO, no clock): inline CSS,
 * inline SVG, no scripts, nothing fetched. Every string from the data is escaped.
 */
import { barChart, distributionChart, stackedBars } from './charts.js';
import { esc, fmtChange, fmtInt, fmtNum, fmtParams, fmtPct, fmtRatio, isNum } from './html.js';
import { REPORT_CSS } from './style.js';
import type { EvalSection, ParamSummary, ReportData, ScoreSummary, SpeedSection } from './types.js';

/** Display names for dataset and task keys; unknown keys are shown as given. */
const DISPLAY: Record<string, string> = {
  wikitext2: 'WikiText-2',
  'wikitext-2': 'WikiText-2',
  ptb: 'PTB',
  c4: 'C4',
  boolq: 'BoolQ',
  piqa: 'PIQA',
  hellaswag: 'HellaSwag',
  winogrande: 'WinoGrande',
  arc_easy: 'ARC-e',
  arc_challenge: 'ARC-c',
  openbookqa: 'OBQA',
};
const display = (key: string): string => DISPLAY[key] ?? key;

/** Metric each task is reported with in the LLM-Pruner table. */
const ACC_NORM_TASKS = new Set(['hellaswag', 'arc_challenge', 'openbookqa']);

function figure(svg: string, caption: string, id: string): string {
  return `<figure class="chart" id="${esc(id)}">${svg}<figcaption>${caption}</figcaption></figure>`;
}

function table(head: string[], rows: string[][], cls = ''): string {
  return `<table${cls ? ` class="${esc(cls)}"` : ''}><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`)
    .join('')}</tbody></table>`;
}

function card(label: string, value: string, detail: string, id: string): string {
  return `<div class="card" id="${esc(id)}"><div class="label">${esc(label)}</div><div class="value">${value}</div><div class="detail">${detail}</div></div>`;
}

const layerName = (i: number): string => `L${i}`;

function summaryCards(d: ReportData): string {
  const cards: string[] = [];
  const pd = d.params.dense.total;
  const pp = d.params.pruned.total;
  cards.push(card('Parameters', `${esc(fmtParams(pd))} → ${esc(fmtParams(pp))}`, `${esc(fmtChange(pd, pp))} of the whole model`, 'card-params'));
  const firstPpl = d.eval ? Object.keys(d.eval.dense.perplexity)[0] : undefined;
  if (d.eval && firstPpl !== undefined) {
    const a = d.eval.dense.perplexity[firstPpl];
    const b = d.eval.pruned.perplexity[firstPpl];
    cards.push(card(`${display(firstPpl)} perplexity`, `${esc(fmtNum(a, 4))} → ${esc(fmtNum(b, 4))}`, `${esc(fmtChange(a, b))} (lower is better)`, 'card-ppl'));
  }
  if (d.speed) {
    const a = d.speed.dense.decodeTokensPerSec;
    const b = d.speed.pruned.decodeTokensPerSec;
    if (isNum(a) && isNum(b)) cards.push(card('Decode speed', `${esc(fmtRatio(a, b))}`, `${esc(fmtNum(a))} → ${esc(fmtNum(b))} tokens/s`, 'card-decode'));
    const pa = d.speed.dense.prefillTokensPerSec;
    const pb = d.speed.pruned.prefillTokensPerSec;
    cards.push(card('Prefill speed', `${esc(fmtRatio(pa, pb))}`, `${esc(fmtNum(pa))} → ${esc(fmtNum(pb))} tokens/s`, 'card-prefill'));
  }
  return `<section id="summary"><div class="cards">${cards.join('')}</div></section>`;
}

function keptSection(d: ReportData): string {
  const layers = d.plan.layers;
  const cats = layers.map((l) => layerName(l.layer));
  const gqa = d.plan.headGranularity === 'kv-group';
  // one look for both kinds: the layer's total behind what was kept
  const keptChart = (kind: 'heads' | 'channels', title: string, yLabel: string): string =>
    barChart({
      id: `chart-kept-${kind}`,
      title,
      categories: cats,
      series: [
        { name: `${kind} before`, cls: 'total', values: layers.map((l) => l[kind].total) },
        { name: `${kind} kept`, cls: 'kept', values: layers.map((l) => l[kind].kept) },
      ],
      yLabel,
      xLabel: 'decoder layer',
      format: (v) => fmtInt(v),
      mode: 'overlay',
      showValues: true,
    });
  const heads = keptChart('heads', 'Attention heads kept per layer', 'query heads');
  const channels = keptChart('channels', 'FFN channels kept per layer', 'FFN channels');
  const dl = d.params.dense.perLayer;
  const pl = d.params.pruned.perLayer;
  const rows = layers.map((l, i) => {
    const before = dl[i] ? dl[i].attention + dl[i].mlp : undefined;
    const after = pl[i] ? pl[i].attention + pl[i].mlp : undefined;
    return [
      esc(layerName(l.layer)),
      `${fmtInt(l.heads.kept)} / ${fmtInt(l.heads.total)}`,
      `${fmtInt(l.kvHeads.kept)} / ${fmtInt(l.kvHeads.total)}`,
      `${fmtInt(l.channels.kept)} / ${fmtInt(l.channels.total)}`,
      esc(fmtParams(before)),
      esc(fmtParams(after)),
      esc(fmtChange(before, after)),
    ];
  });
  return `<section id="kept"><h2>What was kept</h2>
${figure(heads, `Query heads kept (blue) out of the layer's heads (grey).${gqa ? ' Grouped-query attention: heads are pruned in whole KV groups.' : ''}`, 'fig-kept-heads')}
${figure(channels, 'FFN (SwiGLU) channels kept (blue) out of the intermediate size (grey).', 'fig-kept-channels')}
<details><summary>Per-layer numbers</summary>${table(['layer', 'heads', 'KV heads', 'FFN channels', 'params before', 'params after', 'change'], rows, 'layers-table')}</details>
</section>`;
}

function scoresSection(d: ReportData): string {
  const s = d.scores;
  if (!s || s.layers.length === 0) return `<section id="scores"><h2>Score distributions</h2><p class="empty">No score summaries in these results.</p></section>`;
  const cats = s.layers.map((l) => layerName(l.layer));
  const unit = s.unit ?? 'score';
  const fmt = (v: number): string => fmtNum(v, 3);
  const part = (kind: 'heads' | 'channels', label: string): string => {
    const sums: Array<ScoreSummary | undefined> = s.layers.map((l) => l[kind]);
    if (!sums.some((x) => x !== undefined)) return '';
    return figure(
      distributionChart({ id: `chart-scores-${kind}`, title: `${label} scores per layer`, categories: cats, summaries: sums, yLabel: 'score', xLabel: 'decoder layer', format: fmt }),
      `Distribution of ${label} scores in each layer: histogram (shaded), quartiles (box), median (thick line), min–max (whisker)${sums.some((x) => isNum(x?.threshold)) ? ', pruning threshold (red)' : ''}.`,
      `fig-scores-${kind}`,
    );
  };
  return `<section id="scores"><h2>Score distributions</h2><p>Importance of each ${d.plan.headGranularity === 'kv-group' ? 'KV group' : 'attention head'} and each FFN channel, by ${esc(d.plan.criterion)}, in units of ${esc(unit)}.</p>${part('heads', d.plan.headGranularity === 'kv-group' ? 'KV group' : 'head')}${part('channels', 'FFN channel')}</section>`;
}

function qualitySection(e: EvalSection | undefined): string {
  if (!e) return `<section id="quality"><h2>Quality</h2><p class="empty">Not evaluated in this run.</p></section>`;
  const datasets = [...new Set([...Object.keys(e.dense.perplexity), ...Object.keys(e.pruned.perplexity)])];
  let html = `<section id="quality"><h2>Quality</h2>`;
  if (datasets.length) {
    const chart = barChart({
      id: 'chart-perplexity',
      title: 'Perplexity, dense vs pruned',
      categories: datasets.map(display),
      series: [
        { name: 'dense', cls: 'dense', values: datasets.map((k) => e.dense.perplexity[k]) },
        { name: 'pruned', cls: 'pruned', values: datasets.map((k) => e.pruned.perplexity[k]) },
      ],
      yLabel: 'perplexity (lower is better)',
      format: (v) => fmtNum(v, 4),
      mode: 'grouped',
      showValues: true,
      height: 230,
    });
    html += `<h3>Perplexity${isNum(e.seqLen) ? ` at ${fmtInt(e.seqLen)} tokens` : ''}${isNum(e.limit) ? `, first ${fmtInt(e.limit)} windows` : ''}</h3>${figure(chart, 'Perplexity of the dense and the pruned model on each dataset (lower is better).', 'fig-perplexity')}`;
    html += table(
      ['dataset', 'dense', 'pruned', 'change'],
      datasets.map((k) => [esc(display(k)), esc(fmtNum(e.dense.perplexity[k], 4)), esc(fmtNum(e.pruned.perplexity[k], 4)), esc(fmtChange(e.dense.perplexity[k], e.pruned.perplexity[k]))]),
      'ppl-table',
    );
  }
  const tasks = [...new Set([...Object.keys(e.dense.tasks ?? {}), ...Object.keys(e.pruned.tasks ?? {})])];
  if (tasks.length) {
    const metric = (k: string, side: 'dense' | 'pruned'): number | undefined => {
      const r = e[side].tasks?.[k];
      if (!r) return undefined;
      return ACC_NORM_TASKS.has(k) && isNum(r.accNorm) ? r.accNorm : r.acc;
    };
    const mean = (side: 'dense' | 'pruned'): number | undefined => {
      const vs = tasks.map((k) => metric(k, side));
      return vs.every(isNum) ? vs.reduce((a, b) => a + b, 0) / vs.length : undefined;
    };
    const cats = [...tasks.map(display), 'mean'];
    const chart = barChart({
      id: 'chart-tasks',
      title: 'Zero-shot accuracy, dense vs pruned',
      categories: cats,
      series: [
        { name: 'dense', cls: 'dense', values: [...tasks.map((k) => metric(k, 'dense')), mean('dense')] },
        { name: 'pruned', cls: 'pruned', values: [...tasks.map((k) => metric(k, 'pruned')), mean('pruned')] },
      ],
      yLabel: 'accuracy',
      format: (v) => fmtPct(v),
      mode: 'grouped',
      showValues: true,
      yMax: 1,
      tickFormat: (v) => `${Math.round(v * 100)} %`,
      height: 250,
    });
    html += `<h3>Zero-shot tasks${isNum(e.limit) ? `, first ${fmtInt(e.limit)} examples each` : ''}</h3>${figure(chart, 'Accuracy per task (acc_norm for HellaSwag, ARC-c and OBQA, acc otherwise, as in the LLM-Pruner table).', 'fig-tasks')}`;
    html += table(
      ['task', 'metric', 'dense', 'pruned', 'dense acc / acc_norm', 'pruned acc / acc_norm'],
      tasks.map((k) => {
        const dn = e.dense.tasks?.[k];
        const pr = e.pruned.tasks?.[k];
        return [
          esc(display(k)),
          ACC_NORM_TASKS.has(k) ? 'acc_norm' : 'acc',
          esc(fmtPct(metric(k, 'dense'))),
          esc(fmtPct(metric(k, 'pruned'))),
          `${esc(fmtPct(dn?.acc))} / ${esc(fmtPct(dn?.accNorm))}`,
          `${esc(fmtPct(pr?.acc))} / ${esc(fmtPct(pr?.accNorm))}`,
        ];
      }),
      'tasks-table',
    );
  }
  return `${html}</section>`;
}

function speedSection(s: SpeedSection | undefined): string {
  if (!s) return `<section id="speed"><h2>Speed</h2><p class="empty">Not benchmarked in this run.</p></section>`;
  // prefill and decode rates differ by orders of magnitude: one chart each, side by side
  const phase = (key: 'prefill' | 'decode', label: string, dense: number | undefined, pruned: number | undefined): string => {
    if (!isNum(dense) && !isNum(pruned)) return '';
    const svg = barChart({
      id: `chart-speed-${key}`,
      title: `${label} throughput, dense vs pruned`,
      categories: [label],
      series: [
        { name: 'dense', cls: 'dense', values: [dense] },
        { name: 'pruned', cls: 'pruned', values: [pruned] },
      ],
      yLabel: 'tokens / s',
      format: (v) => fmtNum(v, 4),
      mode: 'grouped',
      showValues: true,
      height: 240,
      width: 380,
    });
    return figure(svg, `${esc(label)}: ${esc(fmtRatio(dense, pruned))} the dense model's tokens per second (higher is better).`, `fig-speed-${key}`);
  };
  const setup = [
    s.executionProvider ? `execution provider ${esc(s.executionProvider)}` : '',
    isNum(s.promptTokens) ? `prompt ${fmtInt(s.promptTokens)} tokens` : '',
    isNum(s.decodeTokens) ? `decode ${fmtInt(s.decodeTokens)} tokens` : '',
    isNum(s.batch) ? `batch ${fmtInt(s.batch)}` : '',
  ].filter(Boolean);
  return `<section id="speed"><h2>Speed</h2>${setup.length ? `<p>Measured with ${setup.join(', ')}.</p>` : ''}<div class="pair">${phase('prefill', 'Prefill', s.dense.prefillTokensPerSec, s.pruned.prefillTokensPerSec)}${phase(
    'decode',
    'Decode',
    s.dense.decodeTokensPerSec,
    s.pruned.decodeTokensPerSec,
  )}</div>${table(
    ['phase', 'dense tokens/s', 'pruned tokens/s', 'speed-up'],
    [
      ['prefill', esc(fmtNum(s.dense.prefillTokensPerSec, 4)), esc(fmtNum(s.pruned.prefillTokensPerSec, 4)), esc(fmtRatio(s.dense.prefillTokensPerSec, s.pruned.prefillTokensPerSec))],
      ['decode', esc(fmtNum(s.dense.decodeTokensPerSec, 4)), esc(fmtNum(s.pruned.decodeTokensPerSec, 4)), esc(fmtRatio(s.dense.decodeTokensPerSec, s.pruned.decodeTokensPerSec))],
    ],
    'speed-table',
  )}</section>`;
}

function paramsSection(d: ReportData): string {
  const parts = (p: ParamSummary) => [
    { name: 'attention', cls: 'attn', value: p.attention },
    { name: 'MLP', cls: 'mlp', value: p.mlp },
    { name: 'embeddings + norms', cls: 'emb', value: Math.max(0, p.total - p.attention - p.mlp) },
  ];
  const chart = stackedBars({
    id: 'chart-params',
    title: 'Parameters by kind, dense vs pruned',
    rows: [
      { label: 'dense', parts: parts(d.params.dense) },
      { label: 'pruned', parts: parts(d.params.pruned) },
    ],
    format: fmtParams,
  });
  const row = (name: string, a: number, b: number): string[] => [esc(name), esc(fmtInt(a)), esc(fmtInt(b)), esc(fmtChange(a, b))];
  const dn = d.params.dense;
  const pr = d.params.pruned;
  const ap = (p: ParamSummary): number => p.attention + p.mlp;
  return `<section id="params"><h2>Parameters</h2>${figure(chart, 'Where the parameters are, before and after pruning.', 'fig-params')}${table(
    ['kind', 'dense', 'pruned', 'change'],
    [
      row('attention', dn.attention, pr.attention),
      row('MLP', dn.mlp, pr.mlp),
      row('attention + MLP', ap(dn), ap(pr)),
      row('embeddings', dn.embeddings, pr.embeddings),
      row('total', dn.total, pr.total),
    ],
    'params-table',
  )}</section>`;
}

function provenanceSection(d: ReportData): string {
  const p = d.plan;
  const items: Array<[string, string]> = [
    ['model', esc(d.model.name)],
    ...(d.model.source ? [['source', esc(d.model.source)] as [string, string]] : []),
    ...(d.model.flavour ? [['graph', esc(d.model.flavour)] as [string, string]] : []),
    ['shape', `${fmtInt(d.model.numLayers)} layers, hidden size ${fmtInt(d.model.hiddenSize)}${isNum(d.model.vocabSize) ? `, vocabulary ${fmtInt(d.model.vocabSize)}` : ''}`],
    ['criterion', esc(p.criterion)],
    ['target ratio', `${esc(fmtPct(p.ratio))} of attention + MLP parameters`],
    ['allocation', esc(p.allocation)],
    ['head granularity', p.headGranularity === 'kv-group' ? 'KV group (GQA)' : 'single head'],
    ['compensation', p.compensation === undefined ? '–' : p.compensation ? 'yes' : 'no'],
  ];
  if (p.reconstruction) {
    const r = p.reconstruction;
    items.push(['reconstruction', `least squares, ridge ${r.lambda === 'auto' ? `chosen on ${isNum(r.holdoutSamples) ? `${fmtInt(r.holdoutSamples)} held-out samples` : 'held-out samples'}` : esc(String(r.lambda))}`]);
  }
  if (p.sequential) items.push(['sequential', `yes: the one-shot plan's allocation, each block chosen${typeof p.selectCriterion === 'string' ? ` by ${esc(p.selectCriterion)}` : ''} (and its bias fit) on the pruned blocks' outputs`]);
  if (Array.isArray(p.rounds) && p.rounds.length > 0) {
    items.push(['rounds', `${fmtInt(p.rounds.length)}, each scoring and pruning the previous round's model; removed of the original after each: ${p.rounds.map((r) => esc(fmtPct(r?.achievedRatio))).join(' → ')}`]);
  }
  if (p.calibration) {
    const c = p.calibration;
    items.push(['calibration', `${esc(c.source)}: ${fmtInt(c.samples)} × ${fmtInt(c.seqLen)} tokens, seed ${fmtInt(c.seed)}`]);
  }
  if (isNum(p.seed)) items.push(['seed', fmtInt(p.seed)]);
  if (p.createdAt) items.push(['plan created', esc(p.createdAt)]);
  if (d.run?.tool || d.run?.version) items.push(['tool', esc(`${d.run.tool ?? 'llm-bip'} ${d.run.version ?? ''}`.trim())]);
  if (d.run?.createdAt) items.push(['results written', esc(d.run.createdAt)]);
  if (isNum(d.run?.durationSec)) items.push(['run time', `${fmtNum(d.run.durationSec, 3)} s`]);
  if (d.run?.host) items.push(['host', esc(d.run.host)]);
  const notes = p.notes && Object.keys(p.notes).length ? `<h3>Plan notes</h3><pre>${esc(JSON.stringify(p.notes, null, 2))}</pre>` : '';
  return `<section id="provenance"><h2>Provenance</h2><dl>${items.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${v}</dd>`).join('')}</dl>${notes}</section>`;
}

export function renderReport(data: ReportData): string {
  const title = `llm-bip report: ${data.model.name}`;
  const subtitle = `${data.plan.criterion} · ${fmtPct(data.plan.ratio, 0)} target · ${data.plan.allocation} allocation · ${data.model.numLayers} layers`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>${esc(title)}</title>
<style>${REPORT_CSS}</style>
</head>
<body>
<main>
<h1>${esc(title)}</h1>
<p class="subtitle">${esc(subtitle)}</p>
${summaryCards(data)}
${keptSection(data)}
${qualitySection(data.eval)}
${speedSection(data.speed)}
${scoresSection(data)}
${paramsSection(data)}
${provenanceSection(data)}
<footer>Written by ${esc(data.run?.tool ?? 'llm-bip')}${data.run?.version ? ` ${esc(data.run.version)}` : ''}. This page is self-contained: no scripts, nothing loaded from the network.</footer>
</main>
</body>
</html>
`;
}
