import { describe, expect, it } from 'vitest';
import { searchRidge } from './ridge-search.js';

const GRID = [1e-3, 1e-2, 1e-1, 1, 10, Infinity];

/** searchRidge over GRID with errors from `table` (by alpha); returns what it evaluated, in order. */
async function run(table: Record<string, number>, search: 'walk' | 'grid' = 'walk', alphas: readonly number[] = GRID) {
  const order: number[] = [];
  const judged = await searchRidge(
    alphas,
    async (a) => {
      order.push(a);
      return table[String(a)]!;
    },
    search,
  );
  const best = judged.reduce((b, e) => (e.error < b.error || (e.error === b.error && e.alpha > b.alpha) ? e : b));
  return { order, judged, best: best.alpha };
}

/** errors with a single minimum at `min` (V-shaped in log alpha), mean compensation worst */
function unimodal(min: number): Record<string, number> {
  const t: Record<string, number> = { Infinity: 100 };
  for (const a of GRID.slice(0, -1)) t[String(a)] = 1 + Math.abs(Math.log10(a) - Math.log10(min));
  return t;
}

describe('searchRidge', () => {
  it('grid evaluates every candidate once, ascending, mean compensation last', async () => {
    const { order, judged } = await run(unimodal(0.1), 'grid', [1, 1e-3, Infinity, 0.1, 1e-3, 10, 1e-2]);
    expect(order).toEqual([1e-3, 1e-2, 1e-1, 1, 10, Infinity]);
    expect(judged.map((e) => e.alpha)).toEqual(order);
  });

  it('walk finds the unimodal minimum wherever it lies, from the middle pair, stopping at the first rise', async () => {
    const expected: Array<[number, number[]]> = [
      [1e-3, [1e-2, 0.1, 1e-3]],
      [1e-2, [1e-2, 0.1, 1e-3]],
      [0.1, [1e-2, 0.1, 1]],
      [1, [1e-2, 0.1, 1, 10]],
      [10, [1e-2, 0.1, 1, 10]],
    ];
    for (const [min, order] of expected) {
      const r = await run(unimodal(min));
      expect(r.best, `minimum at ${min}`).toBe(min);
      // the finite candidates in evaluation order, then mean compensation (free)
      expect(r.order).toEqual([...order, Infinity]);
      // reported ascending in alpha
      expect(r.judged.map((e) => e.alpha)).toEqual([...order].sort((a, b) => a - b).concat(Infinity));
    }
  });

  it('walk keeps mean compensation when it is the best, and agrees with the grid on ties (the larger ridge)', async () => {
    expect((await run({ ...unimodal(0.1), Infinity: 0.5 })).best).toBe(Infinity);
    // a plateau from 0.1 up: the grid takes 10 (the larger on ties); so does the walk
    const flat = { ...unimodal(0.1), '1': 1, '10': 1 };
    expect((await run(flat, 'grid')).best).toBe(10);
    expect((await run(flat)).best).toBe(10);
    // equal errors at the middle pair: the walk goes up
    const pair = { ...unimodal(0.1), '0.01': 1 };
    expect((await run(pair)).best).toBe((await run(pair, 'grid')).best);
  });

  it('walk moves up past candidates that are not positive definite (infinite error)', async () => {
    const t = { ...unimodal(1), '0.001': Infinity, '0.01': Infinity, '0.1': Infinity };
    const r = await run(t);
    expect(r.best).toBe(1);
    expect(r.order).toEqual([1e-2, 0.1, 1, 10, Infinity]);
  });

  it('walk returns a local minimum when the errors are not unimodal (the grid finds the global one)', async () => {
    const twoDips = { ...unimodal(1), '0.001': 0 };
    expect((await run(twoDips, 'grid')).best).toBe(1e-3);
    expect((await run(twoDips)).best).toBe(1);
  });

  it('handles one candidate, and mean compensation alone', async () => {
    expect((await run({ '0.1': 2 }, 'walk', [0.1])).order).toEqual([0.1]);
    expect((await run({ Infinity: 2 }, 'walk', [Infinity])).order).toEqual([Infinity]);
    expect((await run({ '0.1': 2, '1': 1 }, 'walk', [0.1, 1])).best).toBe(1);
  });
});
