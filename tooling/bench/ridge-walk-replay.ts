/**
 * Replays the ridge walk (surgery's searchRidge) over every held-out error table recorded in a folder of
 * results (the `heldOutError` of each projection of a pruning record, written by grid runs before the walk
 * existed): for each table, whether the walk chooses what the grid chose, whether the errors were
 * unimodal in the ridge, and how many factorisations (finite candidates) each search needs.
 *
 *   node --conditions=source --import tsx tooling/bench/ridge-walk-replay.ts bench-results
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { searchRidge } from '@llm-bip/surgery';

const root = process.argv[2] ?? 'bench-results';

function* jsonFiles(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* jsonFiles(p);
    else if (name.endsWith('.json')) yield p;
  }
}

function* tables(o: unknown): Generator<Record<string, number>> {
  if (Array.isArray(o)) for (const v of o) yield* tables(v);
  else if (o && typeof o === 'object') {
    const r = o as Record<string, unknown>;
    if (r.heldOutError && typeof r.heldOutError === 'object') yield r.heldOutError as Record<string, number>;
    for (const v of Object.values(r)) yield* tables(v);
  }
}

const alphaOf = (key: string) => (key === 'mean' ? Infinity : Number(key));
const best = (es: Array<{ alpha: number; error: number }>) => es.reduce((b, e) => (e.error < b.error || (e.error === b.error && e.alpha > b.alpha) ? e : b)).alpha;

let files = 0;
let complete = 0;
let same = 0;
let unimodal = 0;
let gridFactorisations = 0;
let walkFactorisations = 0;
const chosen = new Map<string, number>();
for (const f of jsonFiles(root)) {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(f, 'utf8'));
  } catch {
    continue;
  }
  files++;
  for (const t of tables(data)) {
    // a table with a missing error (a run before the held-out fix) says nothing about the search
    if (Object.values(t).some((e) => typeof e !== 'number')) continue;
    complete++;
    const alphas = Object.keys(t).map(alphaOf);
    const errorOf = async (a: number) => t[a === Infinity ? 'mean' : Object.keys(t).find((k) => alphaOf(k) === a)!]!;
    const grid = await searchRidge(alphas, errorOf, 'grid');
    const walk = await searchRidge(alphas, errorOf, 'walk');
    const g = best(grid);
    if (best(walk) === g) same++;
    chosen.set(String(g), (chosen.get(String(g)) ?? 0) + 1);
    const finite = grid.filter((e) => e.alpha !== Infinity).map((e) => e.error);
    const i = finite.indexOf(Math.min(...finite));
    if (finite.every((v, j) => (j <= i ? j === 0 || v <= finite[j - 1]! : v >= finite[j - 1]!))) unimodal++;
    gridFactorisations += grid.filter((e) => e.alpha !== Infinity).length;
    walkFactorisations += walk.filter((e) => e.alpha !== Infinity).length;
  }
}
process.stdout.write(
  `${JSON.stringify(
    {
      root,
      files,
      tables: complete,
      walkChoosesAsGrid: same,
      unimodal,
      chosen: Object.fromEntries(chosen),
      factorisations: { grid: gridFactorisations, walk: walkFactorisations, ratio: walkFactorisations / gridFactorisations },
    },
    null,
    2,
  )}\n`,
);
