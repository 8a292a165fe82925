/**
 * Float64 Cholesky factorisation and solve: the unblocked kernels (`choleskyInPlace`,
 * `choleskySolveInPlace`: small systems, the diagonal blocks, and the reference), and blocked versions
 * whose bulk is matrix products through an injected `MatMul`. The reconstruction's cost, in
 * multiply-adds k³/6 for the factor, k²·m for the solve and k·|P|·m for the right-hand side, is all
 * GEMM-shaped: a JavaScript loop does ~0.35 GFlop/s, ONNX Runtime's float64 MatMul ~20 GFlop/s on two
 * busy cores (README "Least-squares reconstruction"). Surgery does not depend on the runtime: the caller
 * passes a product (runtime's `createMatMul(...).matmul`), or `hostMatMul` is used.
 *
 * The diagonal blocks (CHOLESKY_BLOCK wide) are factored by the unblocked `choleskyInPlace`; their
 * triangular inverses, formed once, turn every triangular solve (the panel below a block and the m
 * right-hand sides) into products as well. That stays backward stable: cholesky.test.ts measures the
 * blocked results against the unblocked ones, and the backward error of both.
 */
/**
 * In-place lower Cholesky factor of a symmetric positive definite k × k matrix (row-major; only the
 * lower triangle is read). Row-oriented: each entry is a dot product of two contiguous row prefixes.
 * Returns false at the first pivot that is not positive (the matrix is not positive definite).
 */
export function choleskyInPlace(a: Float64Array, k: number): boolean {
  for (let i = 0; i < k; i++) {
    const ri = i * k;
    for (let j = 0; j <= i; j++) {
      const rj = j * k;
      let s = a[ri + j]!;
      for (let p = 0; p < j; p++) s -= a[ri + p]! * a[rj + p]!;
      if (i === j) {
        if (!(s > 0)) return false;
        a[ri + i] = Math.sqrt(s);
      } else {
        a[ri + j] = s / a[rj + j]!;
      }
    }
  }
  return true;
}

/** Solve L Lᵀ X = B in place for B [k][m] (row-major), L from choleskyInPlace. */
export function choleskySolveInPlace(l: Float64Array, k: number, b: Float64Array, m: number): void {
  for (let i = 0; i < k; i++) {
    const bi = i * m;
    for (let p = 0; p < i; p++) {
      const f = l[i * k + p]!;
      if (f === 0) continue;
      const bp = p * m;
      for (let o = 0; o < m; o++) b[bi + o]! -= f * b[bp + o]!;
    }
    const d = 1 / l[i * k + i]!;
    for (let o = 0; o < m; o++) b[bi + o]! *= d;
  }
  for (let i = k - 1; i >= 0; i--) {
    const bi = i * m;
    for (let p = i + 1; p < k; p++) {
      const f = l[p * k + i]!;
      if (f === 0) continue;
      const bp = p * m;
      for (let o = 0; o < m; o++) b[bi + o]! -= f * b[bp + o]!;
    }
    const d = 1 / l[i * k + i]!;
    for (let o = 0; o < m; o++) b[bi + o]! *= d;
  }
}

/**
 * A [rows][inner] times B [inner][cols], row-major float64; resolves to [rows][cols]. Must not modify A
 * or B, except that an operand marked in `consume` is given up by the caller (never read again): a backend
 * on another thread may move it there instead of copying it (runtime's createMatMul).
 */
export type MatMul = (a: Float64Array, rows: number, inner: number, b: Float64Array, cols: number, consume?: { a?: boolean; b?: boolean }) => Promise<Float64Array>;

/** MatMul's `consume` flags: both operands given up (temporaries), or only one of them. */
export const BOTH = { a: true, b: true } as const;
export const ONLY_A = { a: true } as const;
export const ONLY_B = { b: true } as const;

/** The JavaScript product (one core, i-p-j order so both inner loops run along rows): the default and the reference. */
export const hostMatMul: MatMul = async (a, rows, inner, b, cols) => {
  if (a.length !== rows * inner || b.length !== inner * cols) {
    throw new RangeError(`hostMatMul: A has ${a.length} values for ${rows} x ${inner}, B ${b.length} for ${inner} x ${cols}; pass the operands' true shapes`);
  }
  const y = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    const yi = i * cols;
    for (let p = 0; p < inner; p++) {
      const f = a[i * inner + p]!;
      if (f === 0) continue;
      const bp = p * cols;
      for (let j = 0; j < cols; j++) y[yi + j]! += f * b[bp + j]!;
    }
  }
  return y;
};

/**
 * Width of the diagonal blocks. Large enough that the products (whose cost grows with it) dominate the
 * per-call overhead of the ORT backend (a thread crossing and a copy of the operands), small enough that
 * the unblocked JavaScript work on the blocks (k·block² in all) stays a few percent of the total.
 */
export const CHOLESKY_BLOCK = 256;

/** A lower Cholesky factor in blocks, with the inverse of each diagonal block (for the solves). */
export interface BlockedFactor {
  k: number;
  block: number;
  /** L, k × k row-major; only the lower triangle is meaningful */
  l: Float64Array;
  /** inverse of diagonal block b (lower triangular, width min(block, k − b·block)), row-major */
  inverses: Float64Array[];
}

/** Rows r0.. r0+rows, columns c0.. c0+cols of the k-wide row-major `a`, as a fitting array. */
function sub(a: Float64Array, k: number, r0: number, rows: number, c0: number, cols: number): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) out.set(a.subarray((r0 + i) * k + c0, (r0 + i) * k + c0 + cols), i * cols);
  return out;
}

/** The same block transposed: [cols][rows]. */
function subT(a: Float64Array, k: number, r0: number, rows: number, c0: number, cols: number): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    const ri = (r0 + i) * k + c0;
    for (let j = 0; j < cols; j++) out[j * rows + i] = a[ri + j]!;
  }
  return out;
}

/** Inverse of a lower triangular b × b matrix (row-major; only the lower triangle is read), by columns of the identity. */
export function lowerInverse(l: Float64Array, b: number): Float64Array {
  const x = new Float64Array(b * b);
  for (let j = 0; j < b; j++) {
    // column j of L⁻¹: forward substitution of e_j, zero above row j
    x[j * b + j] = 1 / l[j * b + j]!;
    for (let i = j + 1; i < b; i++) {
      let s = 0;
      for (let p = j; p < i; p++) s -= l[i * b + p]! * x[p * b + j]!;
      x[i * b + j] = s / l[i * b + i]!;
    }
  }
  return x;
}

/** [rows][cols] → [cols][rows] */
function transposed(x: Float64Array, rows: number, cols: number): Float64Array {
  return subT(x, cols, 0, rows, 0, cols);
}

/**
 * Diagonal blocks per group of the factor's outer level: about sqrt(2k / (3·block)), which minimises
 * what crosses to the product backend (blockedCholesky).
 */
export function factorGroup(k: number, block: number): number {
  return Math.max(1, Math.round(Math.sqrt((2 * k) / (3 * block))));
}

/**
 * Left-looking blocked Cholesky of the symmetric positive definite k × k `a` (row-major, lower triangle
 * read), in place. Per block column j: bring it up to date with the columns already factored,
 * A[j:, j] −= L[j:, <j] · L[j, <j]ᵀ (one product whose result is only k − j0 rows by one block: the
 * right-looking order returned the whole trailing matrix each step, k³/3b values in all, and at 7B shape
 * those results coming back set the time), factor the diagonal block (choleskyInPlace), and the panel
 * below it L21 = A21 · L11⁻ᵀ (one product). Resolves to undefined when a pivot is not positive (not
 * positive definite).
 *
 * In two levels, as the solve: the block columns are taken `group` at a time (S = group x block); a
 * group's columns are first brought up to date with every column before the group in one product,
 * then each block column only with the columns factored inside the group. The arithmetic is the same;
 * the factored columns L[j:, <j] no longer go to the products with every block column (k³/(6·block)
 * values in all, ~3.5 GB of float64 at LLaMA-2-7B down_proj width), but k³/(6·S) + k²·S/(4·block),
 * least at S = sqrt(2k·block/3) (factorGroup): ~2.4x fewer there.
 */
export async function blockedCholesky(a: Float64Array, k: number, matmul: MatMul = hostMatMul, block = CHOLESKY_BLOCK, group = factorGroup(k, block)): Promise<BlockedFactor | undefined> {
  if (!(Number.isInteger(block) && block >= 1)) throw new RangeError(`blockedCholesky: block ${block} must be a positive integer`);
  if (!(Number.isInteger(group) && group >= 1)) throw new RangeError(`blockedCholesky: group ${group} must be a positive integer`);
  if (a.length !== k * k) throw new RangeError(`blockedCholesky: matrix has ${a.length} values, expected ${k} x ${k}`);
  const inverses: Float64Array[] = [];
  // A[c0:, c0:c0+width] −= L[c0:, from:c0] · L[c0:c0+width, from:c0]ᵀ, on and below the diagonal
  const update = async (c0: number, width: number, from: number) => {
    const rows = k - c0;
    const u = await matmul(sub(a, k, c0, rows, from, c0 - from), rows, c0 - from, subT(a, k, c0, width, from, c0 - from), width, BOTH);
    for (let i = 0; i < rows; i++) {
      const row = (c0 + i) * k + c0;
      // the diagonal part's lower triangle, then whole rows below it
      const cols = Math.min(width, i + 1);
      for (let c = 0; c < cols; c++) a[row + c]! -= u[i * width + c]!;
    }
  };
  for (let g0 = 0; g0 < k; g0 += block * group) {
    const g1 = Math.min(k, g0 + block * group);
    if (g0 > 0) await update(g0, g1 - g0, 0);
    for (let j0 = g0; j0 < g1; j0 += block) {
      const b = Math.min(block, k - j0);
      if (j0 > g0) await update(j0, b, g0);
      const d = sub(a, k, j0, b, j0, b);
      if (!choleskyInPlace(d, b)) return undefined;
      for (let i = 0; i < b; i++) a.set(d.subarray(i * b, i * b + i + 1), (j0 + i) * k + j0);
      const inv = lowerInverse(d, b);
      inverses.push(inv);
      const r0 = j0 + b;
      const r = k - r0;
      if (r === 0) break;
      const panel = await matmul(sub(a, k, r0, r, j0, b), r, b, transposed(inv, b, b), b, BOTH);
      for (let i = 0; i < r; i++) a.set(panel.subarray(i * b, (i + 1) * b), (r0 + i) * k + j0);
    }
  }
  return { k, block, l: a, inverses };
}

/**
 * Diagonal blocks per group of the solves' outer level: about sqrt(k / block), which minimises what
 * crosses to the product backend (below).
 */
export function solveGroup(k: number, block: number): number {
  return Math.max(1, Math.round(Math.sqrt(k / block)));
}

/**
 * Solve L Lᵀ X = B in place for B [k][m] (row-major), L from blockedCholesky. Forward, block by block:
 * Y_i = L_ii⁻¹ (B_i − L_i,<i Y_<i); back: X_i = L_ii⁻ᵀ (Y_i − (L_>i,i)ᵀ X_>i). Each step is two
 * products; the already solved rows are a contiguous prefix (suffix) of B.
 *
 * In two levels: the blocks are taken `group` at a time (S = group x block rows); each group first
 * subtracts, in one product, what all rows before it contribute, then solves its own blocks with only
 * the rows solved inside the group. The arithmetic is the same; what changes is the operands: one level
 * sends the solved prefix with every block, k²·m/(2·block) values each way (about 5 GB of float64 per
 * direction at LLaMA-2-7B down_proj width, 8,806 x 4,096), two levels k²·m/(2·S) + k·S·m/(2·block),
 * least at S = sqrt(k·block) (solveGroup): ~3x fewer there.
 */
export async function blockedCholeskySolve(f: BlockedFactor, b: Float64Array, m: number, matmul: MatMul = hostMatMul, group = solveGroup(f.k, f.block)): Promise<void> {
  const { k, block, l, inverses } = f;
  if (b.length !== k * m) throw new RangeError(`blockedCholeskySolve: right-hand sides have ${b.length} values, expected ${k} x ${m}`);
  if (!(Number.isInteger(group) && group >= 1)) throw new RangeError(`blockedCholeskySolve: group ${group} must be a positive integer`);
  if (m === 0) return;
  const span = block * group;
  const groups: Array<[number, number]> = [];
  for (let g0 = 0; g0 < k; g0 += span) groups.push([g0, Math.min(k, g0 + span)]);
  // forward: Y = L⁻¹ B
  for (const [g0, g1] of groups) {
    if (g0 > 0) minus(b.subarray(g0 * m, g1 * m), await matmul(sub(l, k, g0, g1 - g0, 0, g0), g1 - g0, g0, b.subarray(0, g0 * m), m, ONLY_A));
    for (let i0 = g0; i0 < g1; i0 += block) {
      const w = Math.min(block, k - i0);
      let rhs: Float64Array = b.slice(i0 * m, (i0 + w) * m);
      if (i0 > g0) rhs = minus(rhs, await matmul(sub(l, k, i0, w, g0, i0 - g0), w, i0 - g0, b.subarray(g0 * m, i0 * m), m, ONLY_A));
      b.set(await matmul(inverses[i0 / block]!, w, w, rhs, m, ONLY_B), i0 * m);
    }
  }
  // back: X = L⁻ᵀ Y, the groups from the last
  for (const [g0, g1] of groups.reverse()) {
    if (g1 < k) minus(b.subarray(g0 * m, g1 * m), await matmul(subT(l, k, g1, k - g1, g0, g1 - g0), g1 - g0, k - g1, b.subarray(g1 * m), m, ONLY_A));
    const starts: number[] = [];
    for (let i0 = g0; i0 < g1; i0 += block) starts.push(i0);
    for (const i0 of starts.reverse()) {
      const w = Math.min(block, k - i0);
      const s = i0 + w;
      let rhs: Float64Array = b.slice(i0 * m, s * m);
      if (s < g1) rhs = minus(rhs, await matmul(subT(l, k, s, g1 - s, i0, w), w, g1 - s, b.subarray(s * m, g1 * m), m, ONLY_A));
      b.set(await matmul(transposed(inverses[i0 / block]!, w, w), w, w, rhs, m, BOTH), i0 * m);
    }
  }
}

/** x −= y in place (x may be a view into a larger array); returns x. */
function minus(x: Float64Array, y: Float64Array): Float64Array {
  for (let i = 0; i < x.length; i++) x[i]! -= y[i]!;
  return x;
}
