/**
 * Gram-matrix products x -> G x (G = W^T W or W W^T) of one matrix read through JavaScript, for the
 * spectral norms when no model is at hand (a WeightSource alone); with the model, the products run in
 * lockstep on the scoring EP against the weights in place (gram-group.ts). Two ways:
 * - `hostGram`: float64 accumulation in JavaScript, one core (the exact reference);
 * - `OrtGram`: two float32 MatMuls in ONNX Runtime (MLAS, all cores), about 10x faster at 7B shape.
 * The ORT graph holds W as an initializer, one session per matrix: sessions run on runtime's host
 * thread, and a feed crosses to it as a copy on every run (180 MB per product at LLaMA-2-7B's down_proj,
 * which made the step 4x slower than the products themselves). Baked in, W crosses once; each product
 * feeds only x. The session does not pre-pack W (runtime's `prepack: false`): packing is for batched
 * products; for these matrix-vector products it only doubled the load time (0.55 -> 0.28 s at a 7B FFN
 * matrix, the products as fast) and held two packed copies of W. Peak memory: the weight, its encoded
 * graph and ORT's copy (three matrices, one at a time).
 */
import { DataType, encodeModel, type ModelProto, type TensorProto, type ValueInfoProto } from '@llm-bip/onnx-io';
import { createSession, ort, type Session } from '@llm-bip/runtime';
import type { LinearWeight } from './weights.js';

/** A product with the Gram matrix of the smaller side; `size` is that side's length. */
export interface GramProduct {
  size: number;
  apply(x: Float64Array): Promise<Float64Array>;
}

export type GramProducts = 'ort' | 'host';

/**
 * Which Gram matrix: W is stored [n][m] (rows = inputs). 'rows' = W W^T (size n), 'cols' = W^T W (size m).
 * Both have the same nonzero eigenvalues; the smaller one keeps the Krylov basis short.
 */
function gramSide(w: LinearWeight): 'rows' | 'cols' {
  return w.outFeatures <= w.inFeatures ? 'cols' : 'rows';
}

/** x -> G x in float64 on the host, W stored [n][m] row-major. */
export function hostGram(w: LinearWeight): GramProduct {
  const { inFeatures: n, outFeatures: m, data } = w;
  if (gramSide(w) === 'cols') {
    // W^T (W x), x in R^m: one pass over W, each row used twice while in cache
    return {
      size: m,
      async apply(x) {
        const out = new Float64Array(m);
        for (let i = 0; i < n; i++) {
          const base = i * m;
          let s = 0;
          for (let o = 0; o < m; o++) s += data[base + o]! * x[o]!;
          if (s === 0) continue;
          for (let o = 0; o < m; o++) out[o]! += data[base + o]! * s;
        }
        return out;
      },
    };
  }
  // W (W^T x), x in R^n
  return {
    size: n,
    async apply(x) {
      const t = new Float64Array(m);
      for (let i = 0; i < n; i++) {
        const xi = x[i]!;
        if (xi === 0) continue;
        const base = i * m;
        for (let o = 0; o < m; o++) t[o]! += data[base + o]! * xi;
      }
      const out = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        const base = i * m;
        let s = 0;
        for (let o = 0; o < m; o++) s += data[base + o]! * t[o]!;
        out[i] = s;
      }
      return out;
    },
  };
}

function floatInput(name: string, dims: Array<number | string>): ValueInfoProto {
  return {
    name,
    type: { tensorType: { elemType: DataType.FLOAT, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
  } as ValueInfoProto;
}

/** y = x W W^T (side 'rows', x: [1, n]) or y = x W^T W (side 'cols', x: [1, m]); W: [n, m] an initializer. */
function gramGraph(side: 'rows' | 'cols', w: LinearWeight): ModelProto {
  const transB = [{ name: 'transB', type: 2, i: 1 }];
  const node =
    side === 'rows'
      ? [
          { opType: 'MatMul', name: 'xw', input: ['x', 'w'], output: ['t'] },
          { opType: 'Gemm', name: 'twt', input: ['t', 'w'], output: ['y'], attribute: transB },
        ]
      : [
          { opType: 'Gemm', name: 'xwt', input: ['x', 'w'], output: ['t'], attribute: transB },
          { opType: 'MatMul', name: 'tw', input: ['t', 'w'], output: ['y'] },
        ];
  return {
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    producerName: 'llm-bip spectral norms',
    graph: {
      name: `gram_${side}`,
      node,
      input: [floatInput('x', [1, side === 'rows' ? w.inFeatures : w.outFeatures])],
      output: [floatInput('y', [1, side === 'rows' ? w.inFeatures : w.outFeatures])],
      initializer: [
        {
          name: 'w',
          dims: [w.inFeatures, w.outFeatures],
          dataType: DataType.FLOAT,
          rawData: new Uint8Array(w.data.buffer, w.data.byteOffset, w.data.byteLength),
        } as TensorProto,
      ],
    },
  } as ModelProto;
}

/**
 * Gram products on the ORT CPU EP (products are memory-bound: the host's cores, not a device). Holds
 * the session of the matrix in use; the next matrix's product() releases it; `release()` when done.
 */
export class OrtGram {
  private current: Promise<Session> | undefined;

  constructor(private readonly threads?: number) {}

  private async drop(): Promise<void> {
    const s = this.current;
    this.current = undefined;
    if (s) await (await s).release();
  }

  product(w: LinearWeight): GramProduct {
    const side = gramSide(w);
    const size = side === 'rows' ? w.inFeatures : w.outFeatures;
    const previous = this.drop();
    const session = (async () => {
      await previous;
      const bytes = encodeModel(gramGraph(side, w));
      return createSession({ path: 'spectral-norm product graph', bytes }, { ep: 'cpu', prepack: false, ...(this.threads ? { threads: this.threads } : {}) });
    })();
    this.current = session;
    return {
      size,
      apply: async (x) => {
        const xt = new ort.Tensor('float32', Float32Array.from(x), [1, size]);
        const out = await (await session).run({ x: xt });
        return Float64Array.from(out.y!.data as Float32Array);
      },
    };
  }

  async release(): Promise<void> {
    await this.drop();
  }
}
