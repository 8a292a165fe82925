/** Escaping and number formatting for the report: every piece of data goes through one of these. */

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escape text for HTML/SVG element content and attribute values. */
export function esc(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

const DASH = '–';

export function isNum(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

/** 12,345,678 */
export function fmtInt(v: number | undefined): string {
  return isNum(v) ? Math.round(v).toLocaleString('en-US') : DASH;
}

/** 6.74 M, 812 k, 1.23 B */
export function fmtParams(v: number | undefined): string {
  if (!isNum(v)) return DASH;
  const a = Math.abs(v);
  if (a >= 1e9) return `${(v / 1e9).toFixed(2)} B`;
  if (a >= 1e6) return `${(v / 1e6).toFixed(2)} M`;
  if (a >= 1e3) return `${(v / 1e3).toFixed(1)} k`;
  return String(Math.round(v));
}

/** Significant-figure formatting for perplexities, rates and scores. */
export function fmtNum(v: number | undefined, digits = 3): string {
  if (!isNum(v)) return DASH;
  const a = Math.abs(v);
  if (a === 0) return '0';
  if (a >= 1e7 || a < 1e-3) return v.toExponential(2);
  if (a >= 1000) return Math.round(v).toLocaleString('en-US');
  if (a >= 100) return v.toFixed(1);
  return v.toPrecision(digits);
}

/** 0.6312 -> "63.1 %" */
export function fmtPct(v: number | undefined, digits = 1): string {
  return isNum(v) ? `${(v * 100).toFixed(digits)} %` : DASH;
}

/** signed relative change, "-21.7 %" / "+3.2 %" */
export function fmtChange(before: number | undefined, after: number | undefined): string {
  if (!isNum(before) || !isNum(after) || before === 0) return DASH;
  const r = (after - before) / before;
  return `${r >= 0 ? '+' : '−'}${Math.abs(r * 100).toFixed(1)} %`;
}

/** "1.42×" */
export function fmtRatio(before: number | undefined, after: number | undefined): string {
  if (!isNum(before) || !isNum(after) || before === 0) return DASH;
  return `${(after / before).toFixed(2)}×`;
}
