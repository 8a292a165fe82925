import { describe, expect, it } from 'vitest';
import type { SpeedRow } from './speed.js';
import { speedSummary, speedTables } from './tables.js';

const row = (model: string, round: number | undefined, prefill: number, decode: number, extra: Partial<SpeedRow> = {}): SpeedRow => ({
  model,
  ratio: model === 'dense' ? 0 : 0.5,
  ep: 'cpu',
  batch: 1,
  ...(round !== undefined ? { round } : {}),
  prefillTokensPerSec: prefill,
  decodeTokensPerSec: decode,
  loadMs: 10 * prefill,
  ...extra,
});

describe('speed tables over measuring rounds', () => {
  it('medians per model, and "vs dense" as the median of each round ratio to that round dense model', () => {
    // the box slows down 2x in round 2 and 4x in round 3: per-round ratios stay 1.5x and 2x
    const rows = [
      row('dense', 1, 100, 10),
      row('pruned', 1, 150, 20),
      row('dense', 2, 50, 5),
      row('pruned', 2, 75, 10),
      row('dense', 3, 25, 2.5),
      row('pruned', 3, 37.5, 5),
    ];
    const [dense, pruned] = speedSummary(rows);
    expect(dense).toMatchObject({ model: 'dense', rounds: 3, prefillTokensPerSec: 50, decodeTokensPerSec: 5, loadMs: 500, prefillVsDense: 1, decodeVsDense: 1 });
    expect(pruned).toMatchObject({ model: 'pruned', rounds: 3, prefillTokensPerSec: 75, decodeTokensPerSec: 10, prefillVsDense: 1.5, decodeVsDense: 2 });
    expect(pruned).not.toHaveProperty('round');
    expect(pruned).toMatchObject({ prefillBestTokensPerSec: 150, decodeBestTokensPerSec: 20 });
    const table = speedTables({ model: 'm', machine: 'x', date: 'd', command: 'c', config: {}, surgery: [], probe: [], rows });
    expect(table).toContain('Over 3 rounds: median / fastest round');
    expect(table).toContain('| pruned | – | cpu | 1 | 75 / 150 | 1.50x / 1.50x | 10.0 / 20.0 | 2.00x / 2.00x | 3 |');
  });

  it('a failed round is left out of the medians; a model failing in every round shows its error', () => {
    const rows = [row('dense', 1, 100, 10), row('a', 1, 200, 20), row('b', 1, 0, 0, { error: 'out of memory' }), row('dense', 2, 100, 10), row('a', 2, 0, 0, { error: 'killed' }), row('b', 2, 0, 0, { error: 'out of memory' })];
    const [, a, b] = speedSummary(rows);
    expect(a).toMatchObject({ rounds: 1, prefillTokensPerSec: 200, prefillVsDense: 2 });
    expect(a).not.toHaveProperty('error');
    expect(b).toMatchObject({ rounds: 0, error: 'out of memory' });
    expect(b).not.toHaveProperty('prefillTokensPerSec');
  });

  it('rows without rounds (older files) come back one for one, in the one-round table', () => {
    const rows = [row('dense', undefined, 100, 10), row('pruned', undefined, 120, 15), row('dense', undefined, 80, 8, { batch: 8 })];
    const s = speedSummary(rows);
    expect(s.map((r) => [r.model, r.batch, r.rounds, r.prefillVsDense])).toEqual([
      ['dense', 1, 1, 1],
      ['pruned', 1, 1, 1.2],
      ['dense', 8, 1, 1],
    ]);
    const table = speedTables({ model: 'm', machine: 'x', date: 'd', command: 'c', config: {}, surgery: [], probe: [], rows });
    expect(table).toContain('| pruned | – | cpu | 1 | 120 | 1.20x | 15.0 | 1.50x | 1200 |');
    expect(table).not.toContain('rounds');
  });
});
