import { describe, expect, it } from 'vitest';
import { METHODS, methodById, mergeResults, remainingUnits, shareOf, sortRows, workUnits, type QualityResults, type Row, type WorkUnit } from './quality.js';

const pick = (...ids: string[]) => METHODS.filter((m) => ids.includes(m.id));
const id = (u: WorkUnit) => `${u.method === 'dense' ? 'dense' : u.method.id}@${u.seed}:${u.ratios.join('/')}`;
const row = (method: string, ratio: number, seed: number, extra: Partial<Row> = {}): Row => ({ method, label: method, ratio, seed, results: {}, seconds: { prune: 0, eval: 0 }, ...extra });
const results = (rows: Row[], dense = false): QualityResults => ({ model: 'm', machine: 'x', date: 'd', command: 'c', config: {}, rows, ...(dense ? { dense: { results: {} } } : {}) });

describe('quality benchmark work units', () => {
  it('dense first, every method at every ratio for the first seed, extra seeds at one ratio, seed-free criteria once', () => {
    const units = workUnits(pick('magnitude', 'flap'), true, [0, 1], [0.2, 0.5], 0.2);
    expect(units.map(id)).toEqual(['dense@0:0', 'magnitude@0:0.2/0.5', 'flap@0:0.2/0.5', 'flap@1:0.2']);
  });

  it('--extra-seed-ratio all: the extra seeds at every ratio too', () => {
    const units = workUnits(pick('flap'), false, [0, 1], [0.2, 0.5], 'all');
    expect(units.map(id)).toEqual(['flap@0:0.2/0.5', 'flap@1:0.2/0.5']);
  });

  it('workers share the units without overlap or loss, balanced by rows', () => {
    const units = workUnits(pick('random', 'wanda-sp', 'flap', 'llm-bip-global-kind'), true, [0, 1], [0.2, 0.5], 0.2);
    const shares = [0, 1, 2].map((k) => shareOf(units, k, 3));
    expect(shares.flat().map(id).sort()).toEqual(units.map(id).sort());
    const rows = shares.map((s) => s.reduce((a, u) => a + u.ratios.length, 0));
    expect(Math.max(...rows) - Math.min(...rows)).toBeLessThanOrEqual(1);
  });

  it('resuming drops the rows already measured; failed rows and a missing dense row run again', () => {
    const units = workUnits(pick('flap'), true, [0], [0.2, 0.5], 0.2);
    const prev = results([row('flap', 0.2, 0), row('flap', 0.5, 0, { error: 'boom' })]);
    expect(remainingUnits(units, prev).map(id)).toEqual(['dense@0:0', 'flap@0:0.5']);
    expect(remainingUnits(units, results([row('flap', 0.2, 0), row('flap', 0.5, 0)], true))).toEqual([]);
  });

  it('merging keeps one row per (method, ratio, seed), the later part winning, in table order', () => {
    const a = results([row('flap', 0.2, 0, { error: 'x' }), row('llm-bip-global-kind', 0.2, 0)], true);
    const b = results([row('flap', 0.2, 0), row('random', 0.2, 1), row('random', 0.5, 0)]);
    const m = mergeResults([a, b])!;
    expect(m.rows.map((r) => `${r.method}@${r.ratio}/${r.seed}${r.error ? '!' : ''}`)).toEqual(['flap@0.2/0', 'llm-bip-global-kind@0.2/0', 'random@0.5/0', 'random@0.2/1']);
    expect(m.dense).toBeDefined();
    expect(sortRows(m.rows)).toEqual(m.rows);
  });

  it('the newest run wins whatever order the files come in', () => {
    const old = { ...results([row('random', 0.2, 1, { planSha256: 'aa', results: { wikitext2: { perplexity: 1 } } })]), startedAt: '2026-11-28T10:00:00Z' };
    const fresh = { ...results([row('random', 0.2, 1, { planSha256: 'bb', results: { wikitext2: { perplexity: 2 } } })]), startedAt: '2026-11-28T12:00:00Z' };
    expect(mergeResults([fresh, old])!.rows[0]!.planSha256).toBe('bb');
    expect(mergeResults([old, fresh])!.rows[0]!.planSha256).toBe('bb');
  });

  it('joins the columns of two runs only where the plans are the same', () => {
    const ppl = results([row('flap', 0.2, 0, { planSha256: 'aa', results: { wikitext2: { perplexity: 90 } } }), row('flap', 0.5, 0, { planSha256: 'bb', results: { wikitext2: { perplexity: 200 } } })]);
    const tasks = results([row('flap', 0.2, 0, { planSha256: 'aa', results: { boolq: { acc: 0.6 } } }), row('flap', 0.5, 0, { planSha256: 'cc', results: { boolq: { acc: 0.5 } } })]);
    const m = mergeResults([ppl, tasks])!;
    expect(m.rows[0]!.results).toEqual({ wikitext2: { perplexity: 90 }, boolq: { acc: 0.6 } });
    expect(m.rows[1]!.results).toEqual({ boolq: { acc: 0.5 } }); // another plan: the later run's row alone
  });
});

describe('method ids', () => {
  it('a -hH suffix is its method with headRatio H, for uniform and global-kind methods only; unknown ids are refused', () => {
    const base = methodById('llm-bip-global-kind-recon-seq');
    expect(methodById('llm-bip-global-kind-recon-seq-h0.625')).toEqual({ ...base, id: 'llm-bip-global-kind-recon-seq-h0.625', label: `${base.label}, 62.5 % of head groups removed`, headRatio: 0.625 });
    expect(methodById('llm-bip-global-kind-recon-seq-wanda-select-h.5').headRatio).toBe(0.5);
    expect(() => methodById('flap-recon-h0.5')).toThrow(/unknown method "flap-recon-h0.5"/);
    expect(() => methodById('llm-bip-nope')).toThrow(/choose from dense, random/);
  });

  it('table order puts a -hH variant right after its method, by H', () => {
    const ids = ['llm-bip-global-kind-recon-seq-wanda-select', 'llm-bip-global-kind-recon-seq-h0.625', 'llm-bip-global-kind-recon-seq-h0.25', 'llm-bip-global-kind-recon-seq'];
    expect(sortRows(ids.map((m) => row(m, 0.5, 0))).map((r) => r.method)).toEqual([
      'llm-bip-global-kind-recon-seq',
      'llm-bip-global-kind-recon-seq-h0.25',
      'llm-bip-global-kind-recon-seq-h0.625',
      'llm-bip-global-kind-recon-seq-wanda-select',
    ]);
  });
});
