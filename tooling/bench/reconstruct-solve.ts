/**
 * Cost of one reconstruction solve (issue 16) at a given shape, on synthetic moments: the build of the
 * normal equations (Σ_SP W_P), one fit (Cholesky + solve), and the held-out choice among the default
 * ridges. Values do not change the cost (no pivoting, no iterations), so the moments are synthetic: a
 * diagonally dominant covariance, random weights.
 *
 *   node --conditions=source --import tsx tooling/bench/reconstruct-solve.ts --n 4096 --keep 2048 --m 4096 [--auto]
 *
 * Prints wall and process CPU seconds per step and the peak RSS, as JSON.
 */
import { parseArgs } from 'node:util';
import { ProjectionSystem, chooseAlpha, DEFAULT_ALPHAS, SELECTION_OUTPUTS } from '@llm-bip/surgery';
import { mulberry32 } from '@llm-bip/scoring';

const { values } = parseArgs({ options: { n: { type: 'string' }, keep: { type: 'string' }, m: { type: 'string' }, auto: { type: 'boolean', default: false } } });
const n = Number(values.n);
const k = Number(values.keep);
const m = Number(values.m);
if (!(n > 0 && k > 0 && k < n && m > 0)) throw new Error('usage: reconstruct-solve.ts --n INPUTS --keep KEPT --m OUTPUTS [--auto]');

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

const steps: Record<string, { wallS: number; cpuS: number }> = {};
async function time<T>(name: string, f: () => T): Promise<T> {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const r = f();
  const c = process.cpuUsage(c0);
  steps[name] = { wallS: (performance.now() - t0) / 1000, cpuS: (c.user + c.system) / 1e6 };
  process.stderr.write(`${name}: ${steps[name]!.wallS.toFixed(1)} s wall, ${steps[name]!.cpuS.toFixed(1)} s CPU\n`);
  return r;
}

const system = await time('build (Σ_SS, Σ_SP W_P)', () => new ProjectionSystem(w, train, keep));
await time('fit (Cholesky + solve), one ridge', () => system.fit(0.01));
if (values.auto) {
  const holdout = moments();
  await time(`held-out choice (${DEFAULT_ALPHAS.length} ridges, ≤ ${SELECTION_OUTPUTS} outputs)`, () => chooseAlpha(w, train, holdout, keep));
}
process.stdout.write(`${JSON.stringify({ n, keep: k, m, auto: values.auto, steps, peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024), date: new Date().toISOString() }, null, 2)}\n`);
