/**
 * Which ridge candidates the held-out choice evaluates. Each finite candidate costs a Cholesky
 * factorisation of the kept inputs' covariance (at 7B down_proj width, seconds on the H200 each: the
 * choice was two thirds of a layer's reconstruction); mean compensation (Infinity) costs none.
 *
 * 'grid' evaluates every candidate. 'walk' assumes the held-out error is unimodal in the ridge (it
 * falls, then rises, as the fit moves from least squares toward the dense weights) and walks from the
 * middle of the ascending candidates toward the smaller error, stopping at the first rise: it finds the
 * grid's minimum whenever the errors are unimodal, with 3 factorisations of the default grid's 5 for a
 * minimum at its middle. Measured (tooling/bench/ridge-walk-replay.ts): the held-out errors of all 1,154
 * projections recorded in bench-results/ by the grid runs of issue 16 are unimodal in the ridge, and
 * the walk replayed over them chooses as the grid did with 62 % of its factorisations (BENCHMARKS.md
 * "Issue 16, eighth round"). On errors that are not unimodal, 'walk' returns a local minimum.
 *
 * Ties go to the larger ridge (the more conservative fit), as in the grid; a candidate whose system is
 * not positive definite counts as an infinite error (too small a ridge: the walk moves up past it).
 */
import { SurgeryError } from '../errors.js';

export type RidgeSearch = 'walk' | 'grid';

export const RIDGE_SEARCHES: readonly RidgeSearch[] = ['walk', 'grid'];

/** The search the held-out choice uses unless told otherwise (the pipeline's DEFAULTS.reconstruction.search). */
export const DEFAULT_RIDGE_SEARCH: RidgeSearch = 'walk';

/** Refuse a search that is not one of RIDGE_SEARCHES, naming them (`what`: whose search it is). */
export function checkRidgeSearch(search: unknown, what: string): asserts search is RidgeSearch {
  if (!RIDGE_SEARCHES.includes(search as RidgeSearch)) throw new SurgeryError(`${what}: ridge search "${String(search)}": use one of ${RIDGE_SEARCHES.join(', ')}`);
}

/**
 * The candidates `search` evaluates, in the order it evaluates them, given `errorOf` (Infinity: not
 * positive definite). Finite candidates are taken ascending and without repeats; Infinity, when among
 * them, is evaluated last, always (it is free). Resolves to the evaluated candidates with their errors,
 * ascending in the ridge (Infinity last).
 */
export async function searchRidge(
  alphas: readonly number[],
  errorOf: (alpha: number) => Promise<number>,
  search: RidgeSearch = DEFAULT_RIDGE_SEARCH,
): Promise<Array<{ alpha: number; error: number }>> {
  const finite = [...new Set(alphas.filter((a) => a !== Infinity))].sort((a, b) => a - b);
  const evaluated = new Map<number, number>();
  const at = async (i: number): Promise<number> => {
    const a = finite[i]!;
    let e = evaluated.get(a);
    if (e === undefined) evaluated.set(a, (e = await errorOf(a)));
    return e;
  };
  if (search === 'grid') {
    for (let i = 0; i < finite.length; i++) await at(i);
  } else if (finite.length > 0) {
    // the pair at the middle, then downhill one candidate at a time
    const hi = Math.floor(finite.length / 2);
    const lo = Math.max(0, hi - 1);
    if (lo < hi && (await at(lo)) < (await at(hi))) {
      for (let i = lo; i > 0 && (await at(i - 1)) < (await at(i)); i--);
    } else {
      await at(hi);
      for (let i = hi; i + 1 < finite.length && (await at(i + 1)) <= (await at(i)); i++);
    }
  }
  const out = [...evaluated].sort(([a], [b]) => a - b).map(([alpha, error]) => ({ alpha, error }));
  if (alphas.includes(Infinity)) out.push({ alpha: Infinity, error: await errorOf(Infinity) });
  return out;
}
