/**
 * Cost of one reconstruction solve (issue 16) at a given shape, on synthetic moments: the build of the
 * normal equations (Σ_SP W_P), one fit (Cholesky + solve), and the held-out choice among the default
 * ridges, evaluating every one ('grid') and walking toward the minimum ('walk', the default), side by side;
 * and the factor and the solve alone, each in one level and in groups of blocks (factorGroup, solveGroup), side by side. Values do not change the cost (no pivoting, no iterations), so the moments are synthetic: a
 * diagonally dominant covariance, random weights.
 *
 *   node --conditions=source --import tsx tooling/bench/reconstruct-solve.ts --n 4096 --keep 2048 --m 4096 [--auto] [--backend host,ort,cuda]
 *
 * `--backend`: where the products run: surgery's `hostMatMul` (host, JavaScript) or runtime's
 * `createMatMul` on the CPU EP (ort, the default) or the CUDA EP (cuda); several, comma-separated, run one
 * after the other on the same inputs, and every fit is compared with the first backend's (max |difference|
 * / max |value| of the weights). Prints wall and process CPU seconds per step and backend, each backend's
 * wall against the first's, and the process's peak RSS, as JSON.
 */
import { parseArgs } from 'node:util';
import { ProjectionSystem, blockedCholesky, blockedCholeskySolve, chooseAlpha, hostMatMul, factorGroup, solveGroup, CHOLESKY_BLOCK, SELECTION_OUTPUTS, type MatMul } from '@llm-bip/surgery';
import { createMatMul } from '@llm-bip/runtime';
import { mulberry32 } from '@llm-bip/scoring';

const { values } = parseArgs({ options: { n: { type: 'string' }, keep: { type: 'string' }, m: { type: 'string' }, auto: { type: 'boolean', default: false }, backend: { type: 'string', default: 'ort' } } });
const n = Number(values.n);
const k = Number(values.keep);
const m = Number(values.m);
const backends = values.backend.split(',');
const EPS = { ort: 'cpu', cpu: 'cpu', cuda: 'cuda' } as const;
if (!(n > 0 && k > 0 && k < n && m > 0) || !backends.every((b) => b === 'host' || b in EPS)) {
  throw new Error('usage: reconstruct-solve.ts --n INPUTS --keep KEPT --m OUTPUTS [--auto] [--backend host|ort|cuda, comma-separated]');
}

const next = mulberry32(1);
const tokens = 100_000;
function moments(): { tokens: number; gram: Float64Array; sum: Float64Array } {
  const gram = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < i; j++) gram[i * n + j] = gram[j * n + i] = (next() - 0.5) * (tokens / n);
    gram[i * n + i] = tokens * (1 + next());
  }
  // small means: Σ = G/N − μμᵀ stays diagonally dominant, so positive definite
  return { tokens, gram, sum: Float64Array.from({ length: n }, () => (next() - 0.5) * tokens * 0.01) };
}
const w = { inFeatures: n, outFeatures: m, data: Float32Array.from({ length: n * m }, () => next() - 0.5) };
const keep = Array.from({ length: k }, (_, a) => Math.floor((a * n) / k));
const train = moments();

const holdout = values.auto ? moments() : undefined;

type Steps = Record<string, { wallS: number; cpuS: number }>;
async function time<T>(steps: Steps, name: string, f: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const r = await f();
  const c = process.cpuUsage(c0);
  steps[name] = { wallS: (performance.now() - t0) / 1000, cpuS: (c.user + c.system) / 1e6 };
  process.stderr.write(`${name}: ${steps[name]!.wallS.toFixed(1)} s wall, ${steps[name]!.cpuS.toFixed(1)} s CPU\n`);
  return r;
}

const results: Record<string, Steps> = {};
const choices: Record<string, { alpha: number | string; evaluated: Array<number | string> }> = {};
const fits: Record<string, Float64Array> = {};
for (const backend of backends) {
  const ort = backend === 'host' ? undefined : await createMatMul({ ep: EPS[backend as keyof typeof EPS] });
  const matmul: MatMul = ort ? (a, r, i, b, c, consume) => ort.matmul(a, r, i, b, c, consume) : hostMatMul;
  const steps: Steps = {};
  process.stderr.write(`backend ${backend}\n`);
  const system = await time(steps, 'build (Σ_SS, Σ_SP W_P)', async () => {
    const s = new ProjectionSystem(w, train, keep, 'bench', matmul);
    await s.prepare();
    return s;
  });
  fits[backend] = (await time(steps, 'fit (Cholesky + solve), one ridge', () => system.fit(0.01))).weight;
  // the solve alone, one level (the solved prefix sent with every block) against two (solveGroup): the same factor and right-hand sides
  // the kept inputs' covariance (synthetic moments: diagonally dominant)
  const cov = Float64Array.from({ length: k * k }, (_, i) => train.gram[keep[Math.floor(i / k)]! * n + keep[i % k]!]! / tokens);
  await time(steps, 'factor alone, one level', () => blockedCholesky(cov.slice(), k, matmul, CHOLESKY_BLOCK, 1));
  const factor = await time(steps, `factor alone, groups of ${factorGroup(k, CHOLESKY_BLOCK)} blocks`, () => blockedCholesky(cov.slice(), k, matmul));
  if (!factor) throw new Error('bench: the synthetic covariance is not positive definite');
  const rhs = Float64Array.from({ length: k * m }, () => next() - 0.5);
  for (const [name, group] of [['solve alone, one level', 1], [`solve alone, groups of ${solveGroup(k, factor.block)} blocks`, undefined]] as const) {
    await time(steps, name, () => blockedCholeskySolve(factor, rhs.slice(), m, matmul, group));
  }
  if (holdout) {
    // both searches on the same system, one after the other: their ratio is side by side
    for (const search of ['grid', 'walk'] as const) {
      const c = await time(steps, `held-out choice, ${search} (≤ ${SELECTION_OUTPUTS} outputs)`, () => chooseAlpha(w, train, holdout, keep, { what: 'bench', matmul, search }));
      choices[`${backend} ${search}`] = { alpha: c.alpha === Infinity ? 'mean' : c.alpha, evaluated: c.errors.map((e) => (e.alpha === Infinity ? 'mean' : e.alpha)) };
    }
  }
  await ort?.close();
  results[backend] = steps;
}
// each backend against the first: wall ratios (first / this) and the fit's largest difference
const [first, ...others] = backends;
const ratios: Record<string, Record<string, number>> = {};
const fitDifference: Record<string, number> = {};
for (const b of others) {
  ratios[`${first}/${b}`] = Object.fromEntries(Object.entries(results[first!]!).map(([name, s]) => [name, s.wallS / results[b]![name]!.wallS]));
  let d = 0;
  let v = 0;
  for (let i = 0; i < fits[first!]!.length; i++) {
    d = Math.max(d, Math.abs(fits[first!]![i]! - fits[b]![i]!));
    v = Math.max(v, Math.abs(fits[first!]![i]!));
  }
  fitDifference[`${first}/${b}`] = d / v;
}
const summary = { n, keep: k, m, auto: values.auto, backends: results, ...(holdout ? { choices } : {}), ...(others.length ? { wallRatios: ratios, fitDifference } : {}), peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024), date: new Date().toISOString() };
process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
