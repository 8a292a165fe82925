/**
 * Largest singular value of a weight matrix. LLM-BIP needs ||W_gate||_2, ||W_up||_2, ||W_down||_2 once
 * per model (the FFN's Lipschitz constant), as a ranking factor, not a certificate.
 *
 * Lanczos iteration on the Gram matrix (W^T W or W W^T, whichever is smaller), with full
 * reorthogonalisation: the power iteration's matrix-vector products, but the largest eigenvalue is
 * taken from the whole Krylov space, which converges in tens of products where plain power iteration
 * needs hundreds (slow when the top two singular values are close). Matrices are a few thousand wide,
 * so keeping up to `maxIterations` basis vectors is cheap. The recurrence runs in float64 on the host;
 * the products run as float32 MatMuls in ONNX Runtime (`products: 'ort'`, default: in lockstep on the
 * scoring EP when the model is given, gram-group.ts; else per matrix on the CPU EP, gram-products.ts)
 * or in float64 in JavaScript (`'host'`, one core, ~10x slower at 7B shape). README "Spectral norms" says why the
 * default tolerance is 1e-6.
 */
import type { LoadedModel } from '@llm-bip/onnx-io';
import type { ModelSpec } from '@llm-bip/model';
import type { EpChoice } from '@llm-bip/runtime';
import { epMemoryProfile, formatBytes, resolveBudget, type MemoryBudget } from './blockwise/schedule.js';
import { ffnMatrices, gramGroups, GramGroupSession } from './gram-group.js';
import { hostGram, OrtGram, type GramProduct, type GramProducts } from './gram-products.js';
import { seededRng } from './rng.js';
import type { SpectralNorms } from './types.js';
import type { LinearWeight, WeightSource } from './weights.js';

export interface PowerIterationOptions {
  /** stop when the estimate changes by less than this, relatively, twice in a row (default 1e-6) */
  tolerance?: number;
  /** most matrix-vector products (default 200; the Krylov basis holds this many vectors) */
  maxIterations?: number;
  seed?: number;
  /** where the Gram products run (default 'ort': float32 MatMuls on the ORT CPU EP; 'host': float64 JS) */
  products?: GramProducts;
  /** ORT intra-op threads for the products (default: all cores) */
  threads?: number;
}

export interface SpectralNormsOptions extends PowerIterationOptions {
  /** called after each matrix: matrices done, matrices in all (3 per layer), which one ("layer 3 down") */
  onProgress?: (done: number, total: number, matrix: string) => void;
  /**
   * The model the spec was recognised from. With it, `products: 'ort'` runs the products on `ep` in
   * lockstep, one session per group of layers holding their weights in place (gram-group.ts); without
   * it, one CPU session per matrix with the weight read through `weights`.
   */
  model?: LoadedModel;
  /** the scoring EP (default 'auto'); only with `model` */
  ep?: EpChoice;
  /** device memory a group's session may hold (bytes or 'auto'); absent: every layer in one session. Only with `model` */
  maxDeviceMemory?: MemoryBudget;
  /** groups, sessions and iteration counts, a line each (only with `model`) */
  onLog?: (line: string) => void;
}

/** Lockstep: a line every this many product runs, so a group is never silent for long. */
const LOG_EVERY_ITERATIONS = 10;

/** The estimate and the number of Gram products it took. */
export interface SpectralEstimate {
  norm: number;
  products: number;
}

export const DEFAULT_SPECTRAL_TOLERANCE = 1e-6;

/** ||W||_2 by Lanczos (see the file comment). */
export async function spectralNorm(w: LinearWeight, opts: PowerIterationOptions = {}): Promise<number> {
  return (await spectralNormEstimate(w, opts)).norm;
}

export async function spectralNormEstimate(w: LinearWeight, opts: PowerIterationOptions = {}): Promise<SpectralEstimate> {
  if ((opts.products ?? 'ort') === 'host') return lanczosTop(hostGram(w), opts);
  const ortGram = new OrtGram(opts.threads);
  try {
    return await lanczosTop(ortGram.product(w), opts);
  } finally {
    await ortGram.release();
  }
}

/** Largest eigenvalue of the Gram matrix behind `gram`, as its square root (the top singular value). */
async function lanczosTop(gram: GramProduct, opts: PowerIterationOptions): Promise<SpectralEstimate> {
  const run = new LanczosRun(gram.size, opts);
  while (!run.done) run.accept(await gram.apply(run.next()));
  return run.result();
}

/**
 * One matrix's Lanczos recurrence, stepped from outside: `next()` is the vector to multiply by the Gram
 * matrix, `accept(G x)` takes the product. Stepping lets one ORT run serve many matrices (lockstep);
 * each recurrence is the same float64 arithmetic as when it runs alone.
 */
export class LanczosRun {
  private readonly tol: number;
  private readonly maxIt: number;
  private readonly basis: Float64Array[] = [];
  private readonly alpha: number[] = [];
  private readonly beta: number[] = [];
  private estimate = 0;
  private settled = 0;
  products = 0;
  done = false;

  constructor(
    readonly size: number,
    opts: PowerIterationOptions,
  ) {
    this.tol = opts.tolerance ?? DEFAULT_SPECTRAL_TOLERANCE;
    this.maxIt = Math.min(opts.maxIterations ?? 200, size);
    const rng = seededRng(opts.seed ?? 0);
    const q0 = new Float64Array(size);
    for (let i = 0; i < size; i++) q0[i] = rng.next() - 0.5;
    this.basis.push(q0);
    this.done = this.maxIt <= 0 || normalise(q0) === 0;
  }

  /** The vector whose product the recurrence needs next (the newest basis vector). */
  next(): Float64Array {
    return this.basis[this.basis.length - 1]!;
  }

  /** Takes G q for q = next(); `v` is overwritten. */
  accept(v: Float64Array): void {
    if (this.done) throw new RangeError('LanczosRun.accept after the recurrence finished');
    const size = this.size;
    const q = this.next();
    const j = this.products++;
    this.alpha.push(dot(q, v));
    // full reorthogonalisation (twice is enough, Kahan's rule) against the whole basis
    for (let pass = 0; pass < 2; pass++) {
      for (const b of this.basis) {
        const c = dot(b, v);
        for (let i = 0; i < size; i++) v[i]! -= c * b[i]!;
      }
    }
    const next = largestTridiagonalEigenvalue(this.alpha, this.beta);
    // Ritz values rise monotonically to the top eigenvalue; ask for two quiet steps in a row
    this.settled = j > 0 && Math.abs(next - this.estimate) <= this.tol * next ? this.settled + 1 : 0;
    const converged = this.settled >= 2;
    this.estimate = next;
    const b = normalise(v);
    if (converged || b <= 1e-14 * Math.sqrt(Math.max(this.estimate, 0)) || j === this.maxIt - 1) {
      this.done = true;
      return;
    }
    this.beta.push(b);
    this.basis.push(v);
  }

  result(): SpectralEstimate {
    return { norm: Math.sqrt(Math.max(this.estimate, 0)), products: this.products };
  }
}

/** Largest eigenvalue of the symmetric tridiagonal matrix (diagonal a, off-diagonal b) by Sturm bisection. */
export function largestTridiagonalEigenvalue(a: number[], b: number[]): number {
  const k = a.length;
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < k; i++) {
    const r = (i > 0 ? Math.abs(b[i - 1]!) : 0) + (i < k - 1 ? Math.abs(b[i]!) : 0);
    lo = Math.min(lo, a[i]! - r);
    hi = Math.max(hi, a[i]! + r);
  }
  // number of eigenvalues below x (Sturm sequence of the LDL^T pivots)
  const below = (x: number): number => {
    let count = 0;
    let d = 1;
    for (let i = 0; i < k; i++) {
      d = a[i]! - x - (i > 0 ? b[i - 1]! ** 2 / d : 0);
      if (d === 0) d = -1e-300;
      if (d < 0) count++;
    }
    return count;
  };
  for (let it = 0; it < 200 && hi - lo > 1e-15 * Math.max(Math.abs(hi), Math.abs(lo), 1e-300); it++) {
    const mid = (lo + hi) / 2;
    if (below(mid) >= k) hi = mid;
    else lo = mid;
  }
  return (lo + hi) / 2;
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

function normalise(v: Float64Array): number {
  const n = Math.sqrt(dot(v, v));
  if (n > 0) for (let i = 0; i < v.length; i++) v[i]! /= n;
  return n;
}

/**
 * Spectral norms of every layer's W_down, W_gate, W_up and the post-attention norm's max |gain| (gain =
 * offset + gamma: Gemma's (1 + w)).
 * With `model` and ORT products: lockstep on the scoring EP (spectralNormsLockstep). Otherwise one
 * weight matrix is in memory at a time; `onProgress` hears of every matrix, in order.
 */
export async function spectralNorms(spec: ModelSpec, weights: WeightSource, opts: SpectralNormsOptions = {}): Promise<SpectralNorms> {
  const gmax = async (l: ModelSpec['layers'][number]): Promise<number> => {
    // the norm's gain is offset + w (Gemma: 1 + w)
    const gamma = await weights.vector(l.ffnNorm.weight);
    const offset = l.ffnNorm.offset ?? 0;
    let m = 0;
    for (const g of gamma) m = Math.max(m, Math.abs(offset + g));
    return m;
  };
  if ((opts.products ?? 'ort') === 'ort' && opts.model) {
    const norms = await spectralNormsLockstep(spec, opts.model, opts);
    return { layers: await Promise.all(spec.layers.map(async (l, i) => ({ layer: l.index, ...norms[i]!, gmax: await gmax(l) }))) };
  }
  const layers: SpectralNorms['layers'] = [];
  const ortGram = (opts.products ?? 'ort') === 'ort' ? new OrtGram(opts.threads) : undefined;
  const total = spec.layers.length * 3;
  let done = 0;
  const norm = async (layer: number, name: 'down' | 'gate' | 'up', w: LinearWeight): Promise<number> => {
    const { norm } = await lanczosTop(ortGram ? ortGram.product(w) : hostGram(w), opts);
    opts.onProgress?.(++done, total, `layer ${layer} ${name}`);
    return norm;
  };
  try {
    for (const l of spec.layers) {
      layers.push({
        layer: l.index,
        down: await norm(l.index, 'down', await weights.linear(l.down)),
        gate: await norm(l.index, 'gate', await weights.linear(l.gate)),
        up: await norm(l.index, 'up', await weights.linear(l.up)),
        gmax: await gmax(l),
      });
    }
  } finally {
    await ortGram?.release();
  }
  return { layers };
}

/**
 * Every FFN matrix's norm with the products on the scoring EP: the layers are cut into groups that fit
 * the memory budget (all in one when they fit or no budget is given), one session per group; each run
 * of a group's session takes one Lanczos step of every matrix of the group still iterating. A matrix
 * that has converged is dropped from the runs (its output is not asked for, so ORT skips its MatMuls);
 * a group takes as many runs as its slowest matrix. `onProgress` hears of each matrix as it converges.
 */
async function spectralNormsLockstep(spec: ModelSpec, model: LoadedModel, opts: SpectralNormsOptions): Promise<Array<Record<'down' | 'gate' | 'up', number>>> {
  const ep = opts.ep ?? 'auto';
  const log = opts.onLog ?? (() => {});
  const budget = opts.maxDeviceMemory === undefined ? undefined : resolveBudget(opts.maxDeviceMemory, ep);
  const groups = gramGroups(ffnMatrices(model.model, spec), budget?.bytes, budget ? epMemoryProfile(budget.ep) : undefined);
  const total = spec.layers.length * 3;
  const result = spec.layers.map(() => ({ down: 0, gate: 0, up: 0 }));
  const layerIndex = new Map(spec.layers.map((l, i) => [l.index, i]));
  let done = 0;
  if (groups.length > 1) log(`spectral norms: ${groups.length} sessions of layers (${budget!.source}: ${formatBytes(budget!.bytes!)})`);
  for (const [g, group] of groups.entries()) {
    log(`spectral norms: session ${g + 1}/${groups.length}, ${group.label}: ${group.matrices.length === 1 ? '1 matrix' : `${group.matrices.length} matrices`}, weights ${formatBytes(group.weightBytes)}, estimate ${formatBytes(group.totalBytes)}`);
    const session = await GramGroupSession.open(model, group, { ep, ...(opts.threads ? { threads: opts.threads } : {}), ...(g === 0 ? { onLog: (l: string) => log(`spectral norms: ${l}`) } : {}) });
    try {
      const runs = group.matrices.map((m) => new LanczosRun(m.size, opts));
      const finish = (i: number) => {
        const m = group.matrices[i]!;
        result[layerIndex.get(m.layer)!]![m.name] = runs[i]!.result().norm;
        opts.onProgress?.(++done, total, `layer ${m.layer} ${m.name}`);
      };
      runs.forEach((r, i) => r.done && finish(i));
      for (let it = 1; runs.some((r) => !r.done); it++) {
        const products = await session.apply(runs.map((r) => (r.done ? undefined : r.next())));
        runs.forEach((r, i) => {
          if (r.done) return;
          r.accept(products[i]!);
          if (r.done) finish(i);
        });
        if (it % LOG_EVERY_ITERATIONS === 0) log(`spectral norms: session ${g + 1}/${groups.length}, ${it} products: ${runs.filter((r) => r.done).length}/${runs.length} matrices converged`);
      }
    } finally {
      await session.release();
    }
  }
  return result;
}
