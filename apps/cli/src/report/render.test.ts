import { describe, expect, it } from 'vitest';
import { sampleReport } from '../sample-report.testutil.js';
import { renderReport } from './render.js';
import { summariseScores, quantile } from './summary.js';
import { validateReportData } from './validate.js';

/** All start tags of `tag` with a class containing `cls` inside the element with id `id`. */
function marksIn(html: string, id: string, pattern: RegExp): string[] {
  const start = html.indexOf(`id="${id}"`);
  expect(start, `element #${id}`).toBeGreaterThan(-1);
  const end = html.indexOf('</svg>', start);
  return html.slice(start, end).match(pattern) ?? [];
}

function attr(tag: string, name: string): string | undefined {
  return tag.match(new RegExp(`${name}="([^"]*)"`))?.[1];
}

describe('renderReport', () => {
  const data = sampleReport(8);
  const html = renderReport(data);

  it('is one self-contained page: no scripts, no external URLs, a CSP that forbids fetching', () => {
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/<link/i);
    expect(html).not.toMatch(/\b(?:src|href)\s*=\s*"(?!#)/i);
    expect(html).not.toMatch(/url\(/i);
    expect(html.replace(/xmlns="http:\/\/www\.w3\.org\/2000\/svg"/g, '')).not.toMatch(/https?:\/\//);
    expect(html).toContain(`content="default-src 'none'; style-src 'unsafe-inline'; img-src data:"`);
  });

  it('draws one kept bar and one total bar per layer, with the plan numbers', () => {
    for (const [id, key] of [['chart-kept-heads', 'heads'], ['chart-kept-channels', 'channels']] as const) {
      const kept = marksIn(html, id, /<rect class="bar kept"[^>]*>/g);
      const total = marksIn(html, id, /<rect class="bar total"[^>]*>/g);
      expect(kept).toHaveLength(8);
      expect(total).toHaveLength(8);
      kept.forEach((tag, i) => {
        expect(attr(tag, 'data-category')).toBe(`L${i}`);
        expect(Number(attr(tag, 'data-value'))).toBe(data.plan.layers[i]![key].kept);
      });
      // kept bars are never taller than the totals they sit on
      kept.forEach((tag, i) => expect(Number(attr(tag, 'height'))).toBeLessThanOrEqual(Number(attr(total[i]!, 'height')) + 1e-9));
    }
  });

  it('bar heights are proportional to values (one shared scale per chart)', () => {
    const bars = marksIn(html, 'chart-perplexity', /<rect class="bar (?:dense|pruned)"[^>]*>/g);
    expect(bars).toHaveLength(4);
    const ratios = bars.map((b) => Number(attr(b, 'height')) / Number(attr(b, 'data-value')));
    for (const r of ratios) expect(r).toBeCloseTo(ratios[0]!, 2);
  });

  it('one distribution glyph per layer for heads and channels, medians from the summaries', () => {
    for (const kind of ['heads', 'channels'] as const) {
      const glyphs = marksIn(html, `chart-scores-${kind}`, /<g class="dist"[^>]*>/g);
      expect(glyphs).toHaveLength(8);
      glyphs.forEach((g, i) => expect(Number(attr(g, 'data-median'))).toBe(data.scores!.layers[i]![kind]!.median));
    }
    // channel scores span > 2 decades in layer 0 vs others here: log axis
    expect(html).toMatch(/id="chart-scores-channels" data-scale="log"/);
  });

  it('shows the numbers: perplexities, accuracies, speeds, parameter counts, provenance', () => {
    for (const s of ['76.96', '88.61', '234.5', '272.4', '62.1 %', '60.3 %', '2,150', '2,612', '95.20', '118.7', 'global-kind', 'c4-sample.jsonl: 128 × 128 tokens, seed 0']) {
      expect(html).toContain(s);
    }
    expect(html).toContain(data.params.dense.total.toLocaleString('en-US'));
    expect(html).toContain(data.params.pruned.total.toLocaleString('en-US'));
    expect(html).toContain('1.25×'); // decode 118.7 / 95.2
    expect(html).toContain('&quot;powerIterations&quot;: 20');
  });

  it('says when only the first N windows were evaluated', () => {
    const d = sampleReport(2);
    d.eval!.limit = 200;
    expect(renderReport(d)).toContain('<h3>Perplexity at 128 tokens, first 200 windows</h3>');
    expect(html).toContain('<h3>Perplexity at 128 tokens</h3>');
  });

  it('says how a reconstructed model was refit, and nothing of it otherwise', () => {
    const d = sampleReport(2);
    d.plan.reconstruction = { lambda: 'auto', holdoutSamples: 16 };
    expect(renderReport(d)).toContain('least squares, ridge chosen on 16 held-out samples');
    d.plan.reconstruction = { lambda: 0.01 };
    expect(renderReport(d)).toContain('least squares, ridge 0.01');
    expect(html).not.toContain('least squares');
  });

  it('says when a plan was made sequentially, and nothing of it otherwise', () => {
    const d = sampleReport(2);
    d.plan.sequential = true;
    expect(renderReport(d)).toContain("each block chosen (and its bias fit) on the pruned blocks' outputs");
    expect(html).not.toContain('pruned blocks');
    d.plan.selectCriterion = '<wanda-sp>';
    expect(renderReport(d)).toContain("each block chosen by &lt;wanda-sp&gt; (and its bias fit) on the pruned blocks' outputs");
  });

  it('escapes every string from the data', () => {
    const evil = sampleReport(2, { name: '<img src=x onerror=alert(1)>"&\'' });
    evil.plan.criterion = '<script>alert(1)</script>';
    evil.eval!.dense.perplexity['<b>x</b>'] = 10;
    evil.eval!.pruned.perplexity['<b>x</b>'] = 12;
    const out = renderReport(evil);
    expect(out).not.toContain('<img src=x');
    expect(out).not.toContain('<script>');
    expect(out).not.toContain('<b>x</b>');
    expect(out).toContain('&lt;img src=x onerror=alert(1)&gt;&quot;&amp;&#39;');
    expect(out).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
  });

  it('missing sections say "not measured" instead of failing', () => {
    const bare = sampleReport(3);
    delete bare.eval;
    delete bare.speed;
    delete bare.scores;
    const out = renderReport(bare);
    expect(out).toContain('Not evaluated in this run.');
    expect(out).toContain('Not benchmarked in this run.');
    expect(out).toContain('No score summaries in these results.');
    expect(marksIn(out, 'chart-kept-heads', /<rect class="bar kept"/g)).toHaveLength(3);
  });

  it('is pure: the same data renders the same page', () => {
    expect(renderReport(sampleReport(8))).toBe(html);
  });
});

describe('summariseScores', () => {
  it('quartiles follow the linear-interpolation rule; histogram counts every value once', () => {
    const v = [5, 1, 4, 2, 3, 10, 7, 6, 9, 8];
    const s = summariseScores(v, { bins: 4 });
    // independent: sorted 1..10, q1 at position 2.25 -> 3.25, median 5.5, q3 at 6.75 -> 7.75
    expect([s.min, s.q1, s.median, s.q3, s.max, s.mean]).toEqual([1, 3.25, 5.5, 7.75, 10, 5.5]);
    expect(s.histogram.edges).toEqual([1, 3.25, 5.5, 7.75, 10]);
    expect(s.histogram.counts).toEqual([3, 2, 2, 3]);
    expect(quantile([], 0.5)).toBeNaN();
  });

  it('uses log-spaced bins when positive values span more than two decades', () => {
    const s = summariseScores([0.001, 0.01, 0.1, 1], { bins: 3 });
    expect(s.histogram.edges.map((e) => Number(e.toPrecision(6)))).toEqual([0.001, 0.01, 0.1, 1]);
    expect(s.histogram.counts).toEqual([1, 1, 2]);
  });

  it('a constant layer still has a non-empty bin range', () => {
    const s = summariseScores([2, 2, 2], { bins: 2 });
    expect(s.histogram.counts.reduce((a, b) => a + b, 0)).toBe(3);
    expect(s.histogram.edges[2]!).toBeGreaterThan(2);
  });
});

describe('validateReportData', () => {
  it('accepts what prune-llm writes', () => {
    const d = sampleReport(4);
    expect(validateReportData(JSON.parse(JSON.stringify(d)))).toEqual(d);
  });

  it.each([
    [(d: Record<string, any>) => (d.format = 'x'), 'format should be "llm-bip.results/v1"'],
    [(d: Record<string, any>) => delete d.plan, 'plan should be an object'],
    [(d: Record<string, any>) => (d.plan.layers[1].heads.kept = 'seven'), 'plan.layers[1].heads.kept should be a finite number'],
    [(d: Record<string, any>) => (d.eval.pruned.perplexity.ptb = null), 'eval.pruned.perplexity.ptb should be a finite number'],
    [(d: Record<string, any>) => d.scores.layers[0].heads.histogram.counts.push(1), 'scores.layers[0].heads.histogram should be edges one longer than counts'],
  ])('names the first wrong field (%#)', (mutate, message) => {
    const d = JSON.parse(JSON.stringify(sampleReport(3)));
    mutate(d);
    expect(() => validateReportData(d, 'r.json')).toThrow(`r.json: ${message}. Pass the results.json written by \`llm-bip prune-llm\``);
  });
});
