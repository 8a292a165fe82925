/**
 * Float64 matrix products in ONNX Runtime: one session holding a single MatMul on DOUBLE inputs with
 * symbolic dims, reused for every product. For the JavaScript-side numerical code whose work is
 * GEMM-shaped (surgery's least-squares reconstruction): ORT's CPU MatMul on float64 runs ~20 GFlop/s on
 * two busy cores against ~0.35 for a JavaScript loop (the reconstruction steps end to end: 14-32x, surgery
 * README), and the CUDA EP registers MatMul for double too.
 *
 * Operands cross to the session host thread by structured clone, which copies a typed array's whole
 * buffer at about 1 GB/s: a view into a larger buffer is copied to a fitting array first (so only the
 * operand crosses) and that copy is moved, not cloned; so are operands the caller marks as consumed.
 */
import { DataType, encodeModel, type ModelProto, type ValueInfoProto } from '@llm-bip/onnx-io';
import { RuntimeError } from './errors.js';
import { ort } from './ort.js';
import { createSession, type EpChoice, type ExecutionProvider, type Session } from './session.js';

export interface MatMulOptions {
  /** EP of the products; default 'auto' (see createSession) */
  ep?: EpChoice;
  /** intra-op threads (CPU EP); default: ORT's choice (all cores) */
  threads?: number;
  onLog?: (line: string) => void;
}

export interface MatMulBackend {
  /** the EP the products run on */
  readonly ep: ExecutionProvider;
  /**
   * A [rows][inner] times B [inner][cols], row-major, float64 throughout; returns [rows][cols]. An operand
   * marked in `consume` is moved to the session's thread instead of copied (its buffer is detached: the
   * caller must not read it afterwards); views into a larger buffer are always copied first, then moved.
   */
  matmul(a: Float64Array, rows: number, inner: number, b: Float64Array, cols: number, consume?: { a?: boolean; b?: boolean }): Promise<Float64Array>;
  close(): Promise<void>;
}

function doubleValue(name: string, dims: string[]): ValueInfoProto {
  return { name, type: { tensorType: { elemType: DataType.DOUBLE, shape: { dim: dims.map((d) => ({ dimParam: d })) } } } } as ValueInfoProto;
}

function matMulGraph(): ModelProto {
  return {
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    producerName: 'llm-bip float64 matmul',
    graph: {
      name: 'matmul_f64',
      node: [{ opType: 'MatMul', name: 'ab', input: ['a', 'b'], output: ['y'] }],
      input: [doubleValue('a', ['rows', 'inner']), doubleValue('b', ['inner', 'cols'])],
      output: [doubleValue('y', ['rows', 'cols'])],
      initializer: [],
    },
  } as ModelProto;
}

/** A typed array that owns its whole buffer (a copy of a view), so a thread crossing copies only it. */
function fitted(x: Float64Array): Float64Array {
  return x.byteOffset === 0 && x.byteLength === x.buffer.byteLength ? x : x.slice();
}

/** One float64 MatMul session on `ep`, reused for every product; `close()` releases it. */
export async function createMatMul(opts: MatMulOptions = {}): Promise<MatMulBackend> {
  const session: Session = await createSession(
    { path: 'float64 matmul graph', bytes: encodeModel(matMulGraph()) },
    { ep: opts.ep ?? 'auto', prepack: false, ...(opts.threads ? { threads: opts.threads } : {}), ...(opts.onLog ? { onLog: opts.onLog } : {}) },
  );
  let closed = false;
  return {
    ep: session.ep,
    async matmul(a, rows, inner, b, cols, consume) {
      if (closed) throw new RuntimeError('float64 matmul: the backend was closed; create another with createMatMul');
      if (a.length !== rows * inner || b.length !== inner * cols) {
        throw new RuntimeError(`float64 matmul: A has ${a.length} values for ${rows} x ${inner}, B ${b.length} for ${inner} x ${cols}; pass the operands' true shapes`);
      }
      // empty products: nothing for ORT to do (an empty inner dimension sums to zeros)
      if (rows === 0 || cols === 0 || inner === 0) return new Float64Array(rows * cols);
      const fa = fitted(a);
      const fb = fitted(b);
      // our own copies, and operands the caller gives up, cross without another copy
      const move = [...(fa !== a || consume?.a ? ['a'] : []), ...(fb !== b || consume?.b ? ['b'] : [])];
      const out = await session.run({ a: new ort.Tensor('float64', fa, [rows, inner]), b: new ort.Tensor('float64', fb, [inner, cols]) }, undefined, { move });
      return out.y!.data as Float64Array;
    },
    async close() {
      if (closed) return;
      closed = true;
      await session.release();
    },
  };
}
