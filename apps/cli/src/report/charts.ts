/**
 * Inline SVG charts drawn by hand (no chart library, nothing fetched): bar charts (grouped or
 * overlaid) and per-layer distribution plots (box + mirrored histogram). Each returns an <svg>
 * string whose marks carry classes and data-* attributes, so tests can count and read them.
 */
import type { ScoreSummary } from './types.js';
import { esc, isNum } from './html.js';

const W = 760;
const MARGIN = { left: 72, right: 16, top: 40, bottom: 42 };

export interface Series {
  name: string;
  /** CSS class of its marks (colour comes from the stylesheet) */
  cls: string;
  values: Array<number | undefined>;
}

export interface BarChartOptions {
  id: string;
  /** accessible name of the figure */
  title: string;
  categories: string[];
  series: Series[];
  yLabel: string;
  xLabel?: string;
  format: (v: number) => string;
  /** grouped: side by side; overlay: later series drawn over earlier ones in the same slot (kept over total) */
  mode: 'grouped' | 'overlay';
  /** print the value above each bar when there is room */
  showValues?: boolean;
  height?: number;
  /** fixed y maximum (e.g. 1 for accuracies) */
  yMax?: number;
  /** viewBox width (default 760; half-width charts sit two to a row) */
  width?: number;
  /** y tick text (default tickLabel) */
  tickFormat?: (v: number) => string;
}

/** Round tick steps (1, 2, 5 × 10^k) covering [0, max]. */
export function niceTicks(max: number, count = 5): number[] {
  if (!(max > 0)) return [0, 1];
  const raw = max / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks: number[] = [];
  for (let t = 0; t < max + step * 0.999; t += step) ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

/** Axis tick text: short and exact for round tick values (1,500 · 0.25 · 0.001 · 1e-5). */
export function tickLabel(v: number): string {
  const a = Math.abs(v);
  if (a === 0) return '0';
  if (a >= 1000) return Math.round(v).toLocaleString('en-US');
  if (a < 1e-4) return v.toExponential(0);
  return String(Number(v.toPrecision(6)));
}

function n(v: number): string {
  return Number(v.toFixed(2)).toString();
}

function legend(series: Array<{ name: string; cls: string }>): string {
  let x = MARGIN.left;
  return series
    .map((s) => {
      const item = `<g class="legend-item"><rect class="${esc(s.cls)}" x="${n(x)}" y="8" width="12" height="12" rx="2"/><text x="${n(x + 17)}" y="18.5" class="legend-text">${esc(s.name)}</text></g>`;
      x += 30 + s.name.length * 7.2;
      return item;
    })
    .join('');
}

function xLabels(categories: string[], band: number, height: number, xLabel?: string, width = W): string {
  const every = Math.max(1, Math.ceil(categories.length / 16));
  const y = height - MARGIN.bottom + 15;
  const labels = categories
    .map((c, i) => (i % every === 0 ? `<text class="x-tick" x="${n(MARGIN.left + band * (i + 0.5))}" y="${n(y)}" text-anchor="middle">${esc(c)}</text>` : ''))
    .join('');
  const title = xLabel ? `<text class="axis-title" x="${n(MARGIN.left + (width - MARGIN.left - MARGIN.right) / 2)}" y="${n(height - 6)}" text-anchor="middle">${esc(xLabel)}</text>` : '';
  return labels + title;
}

function yAxis(ticks: number[], y: (v: number) => number, label: string, format: (v: number) => string, height: number, width = W): string {
  const grid = ticks
    .map(
      (t) =>
        `<line class="grid" x1="${MARGIN.left}" x2="${width - MARGIN.right}" y1="${n(y(t))}" y2="${n(y(t))}"/><text class="y-tick" x="${MARGIN.left - 6}" y="${n(y(t) + 4)}" text-anchor="end">${esc(format(t))}</text>`,
    )
    .join('');
  const midY = MARGIN.top + (height - MARGIN.top - MARGIN.bottom) / 2;
  return `${grid}<text class="axis-title" transform="translate(14 ${n(midY)}) rotate(-90)" text-anchor="middle">${esc(label)}</text>`;
}

export function barChart(o: BarChartOptions): string {
  const height = o.height ?? 240;
  const width = o.width ?? W;
  const plotW = width - MARGIN.left - MARGIN.right;
  const plotH = height - MARGIN.top - MARGIN.bottom;
  const all = o.series.flatMap((s) => s.values).filter(isNum);
  const dataMax = Math.max(0, ...all);
  const ticks = niceTicks(o.yMax ?? dataMax);
  const yMax = o.yMax ?? ticks[ticks.length - 1]!;
  const y = (v: number): number => MARGIN.top + plotH - (Math.max(0, v) / (yMax || 1)) * plotH;
  const band = plotW / Math.max(1, o.categories.length);
  const groupW = band * 0.78;
  const slots = o.mode === 'grouped' ? o.series.length : 1;
  const barW = groupW / slots;
  const marks: string[] = [];
  o.categories.forEach((cat, i) => {
    o.series.forEach((s, si) => {
      const v = s.values[i];
      if (!isNum(v)) return;
      const slot = o.mode === 'grouped' ? si : 0;
      // overlay: later series a little narrower so the one behind stays visible at the edges
      const inset = o.mode === 'overlay' ? Math.min(barW * 0.12, 3) * si : 0;
      const x = MARGIN.left + band * i + (band - groupW) / 2 + slot * barW + inset;
      const w = Math.max(1, barW - 2 * inset - (o.mode === 'grouped' ? 1 : 0));
      const top = y(v);
      marks.push(
        `<rect class="bar ${esc(s.cls)}" data-category="${esc(cat)}" data-series="${esc(s.name)}" data-value="${v}" x="${n(x)}" y="${n(top)}" width="${n(w)}" height="${n(Math.max(0, MARGIN.top + plotH - top))}"><title>${esc(`${s.name}, ${cat}: ${o.format(v)}`)}</title></rect>`,
      );
      const last = o.mode === 'overlay' ? si === o.series.length - 1 : true;
      if (o.showValues && last && w >= 22) {
        marks.push(`<text class="bar-value" x="${n(x + w / 2)}" y="${n(top - 4)}" text-anchor="middle">${esc(o.format(v))}</text>`);
      }
    });
  });
  return `<svg class="chart-svg" id="${esc(o.id)}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${esc(o.title)}" xmlns="http://www.w3.org/2000/svg"><title>${esc(o.title)}</title>${legend(o.series)}${yAxis(ticks, y, o.yLabel, o.tickFormat ?? tickLabel, height, width)}<g class="marks">${marks.join('')}</g><line class="axis" x1="${MARGIN.left}" x2="${width - MARGIN.right}" y1="${n(MARGIN.top + plotH)}" y2="${n(MARGIN.top + plotH)}"/>${xLabels(o.categories, band, height, o.xLabel, width)}</svg>`;
}

export interface DistributionChartOptions {
  id: string;
  title: string;
  categories: string[];
  summaries: Array<ScoreSummary | undefined>;
  yLabel: string;
  xLabel?: string;
  format: (v: number) => string;
  height?: number;
}

/** Log axis when every value is positive and they span more than ~2 decades; linear otherwise. */
export function chooseScale(min: number, max: number): 'log' | 'linear' {
  return min > 0 && max / min > 100 ? 'log' : 'linear';
}

/**
 * One column per layer: the histogram mirrored into a step "violin", the box (q1..q3) with the
 * median, whiskers to min and max, and the layer's pruning threshold as a red tick.
 */
export function distributionChart(o: DistributionChartOptions): string {
  const height = o.height ?? 260;
  const plotW = W - MARGIN.left - MARGIN.right;
  const plotH = height - MARGIN.top - MARGIN.bottom;
  const present = o.summaries.filter((s): s is ScoreSummary => s !== undefined);
  const mins = present.map((s) => Math.min(s.min, ...(s.histogram.edges.length ? [s.histogram.edges[0]!] : []))).filter(isNum);
  const maxs = present.map((s) => Math.max(s.max, ...(s.histogram.edges.length ? [s.histogram.edges[s.histogram.edges.length - 1]!] : []))).filter(isNum);
  const lo = Math.min(...mins);
  const hi = Math.max(...maxs);
  const scale = chooseScale(lo, hi);
  let y: (v: number) => number;
  let ticks: number[];
  if (scale === 'log') {
    const a = Math.floor(Math.log10(lo));
    const b = Math.ceil(Math.log10(hi));
    y = (v) => MARGIN.top + plotH - ((Math.log10(Math.max(v, 10 ** a)) - a) / (b - a || 1)) * plotH;
    ticks = [];
    const stride = Math.max(1, Math.ceil((b - a) / 6));
    for (let e = a; e <= b; e += stride) ticks.push(10 ** e);
  } else {
    const low = Math.min(0, lo);
    const t = niceTicks(hi - low);
    const top = low + t[t.length - 1]!;
    y = (v) => MARGIN.top + plotH - ((v - low) / (top - low || 1)) * plotH;
    ticks = t.map((v) => v + low);
  }
  const band = plotW / Math.max(1, o.categories.length);
  const half = Math.min(band * 0.42, 40);
  const boxHalf = Math.max(1.5, half * 0.35);
  const marks: string[] = [];
  o.categories.forEach((cat, i) => {
    const s = o.summaries[i];
    if (!s) return;
    const cx = MARGIN.left + band * (i + 0.5);
    const maxCount = Math.max(1, ...s.histogram.counts);
    let violin = '';
    s.histogram.counts.forEach((c, b) => {
      const e0 = s.histogram.edges[b]!;
      const e1 = s.histogram.edges[b + 1]!;
      if (!(c > 0) || !isNum(e0) || !isNum(e1)) return;
      const w = (c / maxCount) * half;
      const y0 = y(e0);
      const y1 = y(e1);
      violin += `M${n(cx - w)} ${n(y0)}H${n(cx + w)}V${n(y1)}H${n(cx - w)}Z`;
    });
    const tip = `${cat}: n=${s.count}, min ${o.format(s.min)}, q1 ${o.format(s.q1)}, median ${o.format(s.median)}, q3 ${o.format(s.q3)}, max ${o.format(s.max)}`;
    marks.push(
      `<g class="dist" data-category="${esc(cat)}" data-median="${s.median}"><title>${esc(tip)}</title>` +
        (violin ? `<path class="violin" d="${violin}"/>` : '') +
        `<line class="whisker" x1="${n(cx)}" x2="${n(cx)}" y1="${n(y(s.min))}" y2="${n(y(s.max))}"/>` +
        `<rect class="box" x="${n(cx - boxHalf)}" y="${n(y(s.q3))}" width="${n(2 * boxHalf)}" height="${n(Math.max(0.5, y(s.q1) - y(s.q3)))}"/>` +
        `<line class="median" x1="${n(cx - boxHalf)}" x2="${n(cx + boxHalf)}" y1="${n(y(s.median))}" y2="${n(y(s.median))}"/>` +
        (isNum(s.threshold) ? `<line class="threshold" x1="${n(cx - half)}" x2="${n(cx + half)}" y1="${n(y(s.threshold))}" y2="${n(y(s.threshold))}"/>` : '') +
        `</g>`,
    );
  });
  const keys = [
    { name: 'histogram', cls: 'violin' },
    { name: 'quartiles and median', cls: 'box' },
    ...(present.some((s) => isNum(s.threshold)) ? [{ name: 'pruning threshold', cls: 'threshold-key' }] : []),
  ];
  const yLabel = `${o.yLabel}${scale === 'log' ? ' (log scale)' : ''}`;
  return `<svg class="chart-svg" id="${esc(o.id)}" data-scale="${scale}" viewBox="0 0 ${W} ${height}" role="img" aria-label="${esc(o.title)}" xmlns="http://www.w3.org/2000/svg"><title>${esc(o.title)}</title>${legend(keys)}${yAxis(ticks, y, yLabel, tickLabel, height)}<g class="marks">${marks.join('')}</g>${xLabels(o.categories, band, height, o.xLabel)}</svg>`;
}

/** A horizontal stacked bar per row (dense / pruned parameter budget by kind). */
export function stackedBars(o: {
  id: string;
  title: string;
  rows: Array<{ label: string; parts: Array<{ name: string; cls: string; value: number }> }>;
  format: (v: number) => string;
}): string {
  const rowH = 34;
  const labelW = 90;
  const height = 30 + o.rows.length * (rowH + 8) + 6;
  const plotW = W - MARGIN.right - labelW - 80;
  const max = Math.max(1, ...o.rows.map((r) => r.parts.reduce((a, p) => a + p.value, 0)));
  const marks: string[] = [];
  o.rows.forEach((r, ri) => {
    const top = 30 + ri * (rowH + 8);
    let x = labelW;
    marks.push(`<text class="row-label" x="${labelW - 8}" y="${n(top + rowH / 2 + 4)}" text-anchor="end">${esc(r.label)}</text>`);
    for (const p of r.parts) {
      const w = (p.value / max) * plotW;
      marks.push(
        `<rect class="bar ${esc(p.cls)}" data-category="${esc(r.label)}" data-series="${esc(p.name)}" data-value="${p.value}" x="${n(x)}" y="${top}" width="${n(Math.max(0, w))}" height="${rowH}"><title>${esc(`${r.label}, ${p.name}: ${o.format(p.value)}`)}</title></rect>`,
      );
      if (w > 56) marks.push(`<text class="bar-inner" x="${n(x + w / 2)}" y="${n(top + rowH / 2 + 4)}" text-anchor="middle">${esc(o.format(p.value))}</text>`);
      x += w;
    }
    const total = r.parts.reduce((a, p) => a + p.value, 0);
    marks.push(`<text class="bar-value" x="${n(x + 6)}" y="${n(top + rowH / 2 + 4)}">${esc(o.format(total))}</text>`);
  });
  const keys = o.rows[0]?.parts.map((p) => ({ name: p.name, cls: p.cls })) ?? [];
  return `<svg class="chart-svg" id="${esc(o.id)}" viewBox="0 0 ${W} ${height}" role="img" aria-label="${esc(o.title)}" xmlns="http://www.w3.org/2000/svg"><title>${esc(o.title)}</title>${legend(keys)}<g class="marks">${marks.join('')}</g></svg>`;
}
