/**
 * Least-squares reconstruction of one projection (o_proj or down_proj) whose inputs lose channels:
 * refit the weights of the kept inputs and a bias so the projection's output on calibration tokens
 * changes as little as possible. Everything here is float64 and works on one projection at a time,
 * given the second moments of its input (InputMoments): a caller that runs the model block by block
 * can solve each layer as soon as its moments are in.
 *
 * Notation. W is n × m in the [in][out] layout of LinearWeight (row i = input i), y_t = Wᵀ x_t. The
 * kept inputs are S (k of them), the removed ones P. Over N calibration tokens: μ = (1/N) Σ_t x_t,
 * C = (1/N) Σ_t x_t x_tᵀ, Σ = C − μ μᵀ (the input covariance).
 *
 * Objective (the issue's augmented fit: x_aug = [x_S, 1], W'_aug = [W'_S; b]):
 *
 *   J(W'_S, b) = (1/N) Σ_t ‖Wᵀ x_t − W'_Sᵀ x_{t,S} − b‖² + λ ‖W'_S − W_S‖²_F
 *
 * 1. ∂J/∂b = 0 gives b = Wᵀ μ − W'_Sᵀ μ_S. Substituting it centres every x on μ:
 *    J = tr(Wᵀ Σ W) − 2 tr(W'_Sᵀ Σ_{S,:} W) + tr(W'_Sᵀ Σ_SS W'_S) + λ ‖W'_S − W_S‖².
 * 2. ∂J/∂W'_S = 0 gives (Σ_SS + λI) W'_S = Σ_{S,:} W + λ W_S = (Σ_SS + λI) W_S + Σ_SP W_P, so
 *
 *      W'_S = W_S + Δ,   (Σ_SS + λI) Δ = Σ_SP W_P,   b = W_Pᵀ μ_P − Δᵀ μ_S.
 *
 *    Σ_SS + λI is symmetric positive definite for λ > 0: one Cholesky factorisation, then a solve with
 *    m right-hand sides.
 * 3. Limits. λ → ∞: Δ → 0 and b = W_Pᵀ μ_P, exactly FLAP's mean compensation (surgery's
 *    compensationBias). λ = 0: plain least squares, GRAIL's W·G[:,S]·G_SS⁻¹ with the bias as a
 *    constant input channel. P = ∅: Δ = 0, b = 0, the dense weight.
 *
 * Why the ridge is centred on W_S rather than on 0 (as in GRAIL and the issue's first sketch): for any
 * λ ≥ 0, Δ = 0 is a feasible point with no penalty, so the fit's calibration error is never above mean
 * compensation's (which is never above plain pruning's: the mean is the best constant); and λ → ∞ falls
 * back to today's compensation instead of to a zero weight. The held-out choice of λ therefore ranges
 * from plain least squares to mean compensation, and includes the latter (alpha = Infinity).
 *
 * λ is given relative to the data: λ = alpha · mean(diag Σ_SS) (scale-free across layers and models).
 */
import type { InputMoments } from '@llm-bip/model';
import { SurgeryError } from '../errors.js';
import { DEFAULT_RIDGE_SEARCH, checkRidgeSearch, searchRidge, type RidgeSearch } from './ridge-search.js';
import { BOTH, ONLY_A, blockedCholesky, blockedCholeskySolve, hostMatMul, type MatMul } from './cholesky.js';

/** A projection weight in the [in][out] layout (row i = input feature i), as scoring's LinearWeight. */
export interface DenseWeight {
  inFeatures: number;
  outFeatures: number;
  data: Float32Array | Float64Array;
}

export interface ProjectionFit {
  /** kept input indices, ascending (the rows of `weight`) */
  keep: number[];
  /** W'_S: [keep.length][outFeatures], row-major */
  weight: Float64Array;
  /** b: [outFeatures], added after the projection */
  bias: Float64Array;
  /** ridge relative to mean(diag Σ_SS); Infinity = mean compensation (no weight change) */
  alpha: number;
  /** the absolute ridge λ = alpha · mean(diag Σ_SS) */
  lambda: number;
}

/** Moments of several disjoint token sets, taken together (their sums add). */
export type Moments = InputMoments | readonly InputMoments[];

function parts(m: Moments): readonly InputMoments[] {
  return Array.isArray(m) ? (m as readonly InputMoments[]) : [m as InputMoments];
}

/** Checked view of moments for a width-n input: total tokens, the mean, and G_ij / N summed over the parts. */
class MomentView {
  readonly tokens: number;
  readonly mean: Float64Array;
  private readonly grams: Float64Array[];

  constructor(
    m: Moments,
    readonly n: number,
    what: string,
  ) {
    const ps = parts(m);
    if (ps.length === 0) throw new SurgeryError(`${what}: no input moments to reconstruct from`);
    this.tokens = ps.reduce((s, p) => s + p.tokens, 0);
    if (!(this.tokens > 0)) throw new SurgeryError(`${what}: the input moments hold no tokens; collect them over calibration text`);
    for (const p of ps) {
      if (p.gram.length !== n * n || p.sum.length !== n) {
        throw new SurgeryError(`${what}: input moments of width ${p.sum.length} (gram ${p.gram.length} values), the projection takes ${n} inputs: they were collected on another model`);
      }
    }
    this.mean = new Float64Array(n);
    for (const p of ps) for (let i = 0; i < n; i++) this.mean[i]! += p.sum[i]!;
    for (let i = 0; i < n; i++) this.mean[i]! /= this.tokens;
    this.grams = ps.map((p) => p.gram);
  }

  /** C_ij = (1/N) Σ_t x_ti x_tj */
  second(i: number, j: number): number {
    let s = 0;
    for (const g of this.grams) s += g[i * this.n + j]!;
    return s / this.tokens;
  }

  /** Σ_ij = C_ij − μ_i μ_j */
  cov(i: number, j: number): number {
    return this.second(i, j) - this.mean[i]! * this.mean[j]!;
  }
}

/** The full n × n input covariance Σ = C − μμᵀ of `moments` (float64, row-major), checked against width n. */
export function inputCovariance(moments: Moments, n: number, what: string): Float64Array {
  const mv = new MomentView(moments, n, what);
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      const v = mv.cov(i, j);
      out[i * n + j] = v;
      out[j * n + i] = v;
    }
  }
  return out;
}

export function complementOf(n: number, keep: readonly number[]): number[] {
  const k = new Set(keep);
  const out: number[] = [];
  for (let i = 0; i < n; i++) if (!k.has(i)) out.push(i);
  return out;
}

function checkKeep(keep: readonly number[], n: number, what: string): void {
  for (let i = 0; i < keep.length; i++) {
    const v = keep[i]!;
    if (!Number.isInteger(v) || v < 0 || v >= n || (i > 0 && v <= keep[i - 1]!)) {
      throw new SurgeryError(`${what}: kept input ${v} at position ${i} is out of range 0..${n - 1} or not ascending`);
    }
  }
}

/**
 * The normal equations of one projection for one kept set, built once and solved for any ridge:
 * Σ_SS (lower triangle), the right-hand side Σ_SP W_P (one product, on first use) and mean compensation's
 * bias. Cost to build: k²/2 + k·|P| entries, then k·|P|·m multiply-adds; each `fit(alpha)`: k³/6
 * (blocked Cholesky, the trailing updates computed as full squares: about 2x that in products) + k²·m
 * (solve). The products go to `matmul` (default: hostMatMul). Memory: k² (Σ_SS) + k² (the factor) +
 * 2·k·m float64 besides the inputs, plus the product backend's operands and result.
 */
export class ProjectionSystem {
  private readonly keep: number[];
  private readonly mean: Float64Array;
  private readonly meanBias: Float64Array;
  private readonly cov?: Float64Array;
  private readonly diagMean: number = 1;
  /** Σ_SP [k][|P|] and W_P [|P|][m] until the right-hand side is formed */
  private operands?: { sp: Float64Array; wp: Float64Array; p: number };
  private rhs?: Promise<Float64Array>;

  constructor(
    private readonly w: DenseWeight,
    moments: Moments,
    keep: readonly number[],
    private readonly what = 'projection',
    private readonly matmul: MatMul = hostMatMul,
  ) {
    const { inFeatures: n, outFeatures: m, data } = w;
    if (data.length !== n * m) throw new SurgeryError(`${what}: weight has ${data.length} values, expected ${n} x ${m}`);
    checkKeep(keep, n, what);
    this.keep = [...keep];
    const mv = new MomentView(moments, n, what);
    this.mean = mv.mean;
    const removed = complementOf(n, keep);
    const k = keep.length;
    // mean compensation: b = W_Pᵀ μ_P
    this.meanBias = new Float64Array(m);
    for (const p of removed) {
      const mu = mv.mean[p]!;
      if (mu === 0) continue;
      for (let o = 0; o < m; o++) this.meanBias[o]! += data[p * m + o]! * mu;
    }
    if (k === 0 || removed.length === 0) return;
    this.cov = new Float64Array(k * k);
    let diag = 0;
    for (let a = 0; a < k; a++) {
      for (let c = 0; c <= a; c++) this.cov[a * k + c] = mv.cov(keep[a]!, keep[c]!);
      diag += this.cov[a * k + a]!;
    }
    if (diag > 0) this.diagMean = diag / k;
    const p = removed.length;
    const sp = new Float64Array(k * p);
    for (let a = 0; a < k; a++) for (let c = 0; c < p; c++) sp[a * p + c] = mv.cov(keep[a]!, removed[c]!);
    this.operands = { sp, wp: rowsOf(w, removed), p };
  }

  /** Form the right-hand side Σ_SP W_P (the first fit does it if this was not called). */
  prepare(): Promise<Float64Array> {
    if (!this.rhs) {
      const k = this.keep.length;
      const m = this.w.outFeatures;
      // no kept or no removed inputs: nothing to compensate
      if (!this.operands) return (this.rhs = Promise.resolve(new Float64Array(k * m)));
      const { sp, wp, p } = this.operands;
      this.rhs = this.matmul(sp, k, p, wp, m, BOTH);
      // the operands are dropped once the product is in (k·|P| + |P|·m float64)
      this.rhs.then(() => (this.operands = undefined), () => {});
    }
    return this.rhs;
  }

  /** The fit for ridge `alpha` (relative to mean(diag Σ_SS); Infinity = mean compensation). */
  async fit(alpha: number): Promise<ProjectionFit> {
    const { outFeatures: m } = this.w;
    if (!(alpha >= 0)) throw new SurgeryError(`${this.what}: ridge alpha ${alpha} must be a number >= 0 (or Infinity for mean compensation)`);
    const keep = this.keep;
    const k = keep.length;
    const weight = rowsOf(this.w, keep);
    const bias = this.meanBias.slice();
    if (!this.cov || alpha === Infinity) return { keep: [...keep], weight, bias, alpha, lambda: Infinity };

    const lambda = alpha * this.diagMean;
    const h = this.cov.slice();
    for (let a = 0; a < k; a++) h[a * k + a]! += lambda;
    const factor = await blockedCholesky(h, k, this.matmul);
    if (!factor) {
      throw new SurgeryError(`${this.what}: the kept inputs' covariance plus ridge is not positive definite (alpha ${alpha}); use a larger ridge (--reconstruct-lambda) or more calibration samples`);
    }
    const delta = (await this.prepare()).slice();
    await blockedCholeskySolve(factor, delta, m, this.matmul);
    // W'_S = W_S + Δ, b = W_Pᵀ μ_P − Δᵀ μ_S
    for (let a = 0; a < k; a++) {
      const mu = this.mean[keep[a]!]!;
      const row = a * m;
      for (let o = 0; o < m; o++) {
        const d = delta[row + o]!;
        weight[row + o]! += d;
        bias[o]! -= d * mu;
      }
    }
    return { keep: [...keep], weight, bias, alpha, lambda };
  }
}

/** Rows `rows` of W ([in][out]) as float64, [rows.length][out]. */
function rowsOf(w: DenseWeight, rows: readonly number[]): Float64Array {
  const m = w.outFeatures;
  const out = new Float64Array(rows.length * m);
  rows.forEach((r, a) => {
    for (let o = 0; o < m; o++) out[a * m + o] = w.data[r * m + o]!;
  });
  return out;
}

/** Refit one projection for the kept inputs `keep` (ascending) with ridge `alpha`. See the derivation at the top of this file. */
export async function fitProjection(w: DenseWeight, moments: Moments, keep: readonly number[], alpha: number, what = 'projection', matmul: MatMul = hostMatMul): Promise<ProjectionFit> {
  if (!(alpha >= 0)) throw new SurgeryError(`${what}: ridge alpha ${alpha} must be a number >= 0 (or Infinity for mean compensation)`);
  return new ProjectionSystem(w, moments, keep, what, matmul).fit(alpha);
}

/**
 * Mean over the tokens of `moments` of ‖Wᵀx − W'_Sᵀx_S − b‖²: the output error a fit leaves (0 for
 * the dense projection). From the moments alone, via E = W − W'_full (rows P: W_P; rows S: −Δ):
 *   err = Σ_ij C_ij E_i·E_j − 2 b·(Eᵀμ) + ‖b‖².
 * The P×P and P×S parts do not depend on the fit; they are computed once (on the first `of`), so
 * comparing several fits costs one k×k by k×m product each (through `matmul`).
 */
export class ErrorMeter {
  private readonly mv: MomentView;
  private readonly removed: number[];
  private fixed?: Promise<{ pp: number; a: Float64Array; wpMu: Float64Array; css: Float64Array }>;

  constructor(
    private readonly w: DenseWeight,
    moments: Moments,
    private readonly keep: readonly number[],
    what = 'projection',
    private readonly matmul: MatMul = hostMatMul,
  ) {
    checkKeep(keep, w.inFeatures, what);
    this.mv = new MomentView(moments, w.inFeatures, what);
    this.removed = complementOf(w.inFeatures, keep);
  }

  /** Σ_{p,q∈P} C_pq W_p·W_q; A = C_SP W_P ([k][m]); W_Pᵀ μ_P; C_SS (full, [k][k]). */
  private async prepare() {
    const { outFeatures: m } = this.w;
    const { keep, removed, mv } = this;
    const k = keep.length;
    const p = removed.length;
    const wp = rowsOf(this.w, removed);
    const cpp = new Float64Array(p * p);
    for (let i = 0; i < p; i++) for (let j = 0; j < p; j++) cpp[i * p + j] = mv.second(removed[i]!, removed[j]!);
    const v = await this.matmul(cpp, p, p, wp, m, ONLY_A);
    let pp = 0;
    for (let i = 0; i < p * m; i++) pp += wp[i]! * v[i]!;
    const csp = new Float64Array(k * p);
    for (let s = 0; s < k; s++) for (let j = 0; j < p; j++) csp[s * p + j] = mv.second(keep[s]!, removed[j]!);
    const a = await this.matmul(csp, k, p, wp, m, ONLY_A);
    const wpMu = new Float64Array(m);
    for (let j = 0; j < p; j++) for (let o = 0; o < m; o++) wpMu[o]! += wp[j * m + o]! * mv.mean[removed[j]!]!;
    const css = new Float64Array(k * k);
    for (let s = 0; s < k; s++) {
      for (let t = 0; t <= s; t++) css[s * k + t] = css[t * k + s] = mv.second(keep[s]!, keep[t]!);
    }
    return { pp, a, wpMu, css };
  }

  /** The error of refit kept weights `weight` ([k][m]) and bias `bias` ([m]). */
  async of(weight: Float64Array | Float32Array, bias: ArrayLike<number>): Promise<number> {
    const { outFeatures: m, data } = this.w;
    const k = this.keep.length;
    if (weight.length !== k * m || bias.length !== m) throw new SurgeryError(`fit has ${weight.length} weights and ${bias.length} biases, expected ${k} x ${m} and ${m}`);
    this.fixed ??= this.prepare();
    const { pp, a, wpMu, css } = await this.fixed;
    // Δ = W'_S − W_S
    const delta = new Float64Array(k * m);
    for (let s = 0; s < k; s++) for (let o = 0; o < m; o++) delta[s * m + o] = weight[s * m + o]! - data[this.keep[s]! * m + o]!;
    // neither operand is given up: C_SS serves every candidate, Δ is read again below
    const u = await this.matmul(css, k, k, delta, m);
    let ss = 0;
    let ps = 0;
    for (let i = 0; i < k * m; i++) {
      ss += delta[i]! * u[i]!;
      ps += delta[i]! * a[i]!;
    }
    // Eᵀμ = W_Pᵀμ_P − Δᵀμ_S
    const e = wpMu.slice();
    for (let s = 0; s < k; s++) {
      const mu = this.mv.mean[this.keep[s]!]!;
      for (let o = 0; o < m; o++) e[o]! -= delta[s * m + o]! * mu;
    }
    let linear = 0;
    let bb = 0;
    for (let o = 0; o < m; o++) {
      linear += bias[o]! * e[o]!;
      bb += bias[o]! ** 2;
    }
    return pp - 2 * ps + ss - 2 * linear + bb;
  }
}

/** Default ridge grid for `lambda: 'auto'`, relative to mean(diag Σ_SS); Infinity = mean compensation. */
export const DEFAULT_ALPHAS: readonly number[] = [1e-3, 1e-2, 1e-1, 1, 10, Infinity];

export interface AlphaChoice {
  alpha: number;
  /** held-out error of each candidate evaluated (mean over held-out tokens of the squared output error), ascending in alpha */
  errors: Array<{ alpha: number; error: number }>;
  /** how the candidates were searched ('walk' evaluates only those on the way to the minimum) */
  search: RidgeSearch;
}

/** Output features the held-out choice looks at, at most: the error is a sum over outputs, so a spread subset estimates it. */
export const SELECTION_OUTPUTS = 256;

export interface ChooseAlphaOptions {
  /** ridge candidates (DEFAULT_ALPHAS), relative to mean(diag Σ_SS); Infinity = mean compensation */
  alphas?: readonly number[];
  /** which candidates are evaluated: 'walk' (default; assumes unimodal errors) or 'grid' (all); see ridge-search.ts */
  search?: RidgeSearch;
  /** output features judged, at most (SELECTION_OUTPUTS) */
  maxOutputs?: number;
  matmul?: MatMul;
  /** after each candidate is judged: its held-out error (undefined: not positive definite) */
  onCandidate?: (alpha: number, error: number | undefined) => void;
  what?: string;
}

/**
 * Choose alpha on held-out tokens: fit on `train` with the candidates `search` visits, measure the
 * output error on `holdout`, keep the smallest (ties: the larger alpha, the more conservative fit). A
 * candidate whose system is not positive definite is skipped. Wide projections are judged on
 * `maxOutputs` evenly spaced output features (each output's fit is its own least-squares problem with
 * the same Gram matrix).
 */
export async function chooseAlpha(w: DenseWeight, train: Moments, holdout: Moments, keep: readonly number[], opts: ChooseAlphaOptions = {}): Promise<AlphaChoice> {
  const { alphas = DEFAULT_ALPHAS, search = DEFAULT_RIDGE_SEARCH, maxOutputs = SELECTION_OUTPUTS, matmul = hostMatMul, onCandidate, what = 'projection' } = opts;
  if (alphas.length === 0) throw new SurgeryError(`${what}: no ridge candidates to choose from`);
  checkRidgeSearch(search, what);
  const sub = outputSubset(w, maxOutputs);
  const system = new ProjectionSystem(sub, train, keep, what, matmul);
  const meter = new ErrorMeter(sub, holdout, keep, what, matmul);
  const judged = await searchRidge(
    alphas,
    async (alpha) => {
      let fit: ProjectionFit;
      try {
        fit = await system.fit(alpha);
      } catch (e) {
        if (e instanceof SurgeryError && /not positive definite/.test(e.message)) {
          onCandidate?.(alpha, undefined);
          return Infinity;
        }
        throw e;
      }
      const error = await meter.of(fit.weight, fit.bias);
      onCandidate?.(alpha, error);
      return error;
    },
    search,
  );
  const errors = judged.filter((e) => e.error !== Infinity);
  if (errors.length === 0) throw new SurgeryError(`${what}: no ridge candidate (${alphas.join(', ')}) gives a positive definite system; use larger values`);
  let best = errors[0]!;
  for (const e of errors) if (e.error < best.error || (e.error === best.error && e.alpha > best.alpha)) best = e;
  return { alpha: best.alpha, errors, search };
}

/** W restricted to at most `max` evenly spaced output features (W itself when it has no more). */
function outputSubset(w: DenseWeight, max: number): DenseWeight {
  const m = w.outFeatures;
  if (m <= max) return w;
  const cols = Array.from({ length: max }, (_, j) => Math.floor((j * m) / max));
  const data = new Float64Array(w.inFeatures * max);
  for (let i = 0; i < w.inFeatures; i++) for (let j = 0; j < max; j++) data[i * max + j] = w.data[i * m + cols[j]!]!;
  return { inFeatures: w.inFeatures, outFeatures: max, data };
}

export interface ReconstructOptions {
  /** 'auto': choose on the held-out moments from `alphas`; a number: that alpha */
  lambda: 'auto' | number;
  alphas?: readonly number[];
  /** which candidates the choice evaluates ('walk', the default, or 'grid': ridge-search.ts) */
  search?: RidgeSearch;
  /** output features the held-out choice looks at (SELECTION_OUTPUTS) */
  selectionOutputs?: number;
  /** after each ridge candidate of the choice: its held-out error (undefined: not positive definite); a 7B fit takes seconds each */
  onCandidate?: (alpha: number, error: number | undefined) => void;
}

/**
 * One projection: choose alpha on held-out tokens (lambda 'auto'), then fit on all tokens (train and
 * held-out together). With a fixed lambda the held-out moments, when given, are used for the fit too.
 */
export async function reconstructProjection(
  w: DenseWeight,
  moments: { train: InputMoments; holdout?: InputMoments },
  keep: readonly number[],
  opts: ReconstructOptions,
  what = 'projection',
  matmul: MatMul = hostMatMul,
): Promise<ProjectionFit & { choice?: AlphaChoice }> {
  const all = moments.holdout ? [moments.train, moments.holdout] : [moments.train];
  if (opts.lambda !== 'auto') return fitProjection(w, all, keep, opts.lambda, what, matmul);
  if (!moments.holdout) throw new SurgeryError(`${what}: choosing the ridge automatically needs held-out calibration moments; hold out some samples or give a fixed lambda`);
  const { alphas, search, selectionOutputs: maxOutputs, onCandidate } = opts;
  const choice = await chooseAlpha(w, moments.train, moments.holdout, keep, { what, matmul, alphas, search, maxOutputs, onCandidate });
  return { ...(await fitProjection(w, all, keep, choice.alpha, what, matmul)), choice };
}
