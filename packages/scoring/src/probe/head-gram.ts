/**
 * Per-head Gram matrices of o_proj for the probe's head norms: G_h = W_o^(h)T W_o^(h), [heads, headDim,
 * headDim] (in the stored [in][out] layout: head h's headDim input rows times themselves transposed). Two ways:
 * - `headGrams` (used by buildProbe): one batched float64 MatMul per layer in ONNX Runtime on the CPU EP
 *   (all cores). At LLaMA-2-7B width that is 2.1 GFLOP a layer: 0.25-0.6 s on the 2-core dev box,
 *   where the JavaScript loop took 2.4-3.7 s (BENCHMARKS.md "Scoring fixed costs at 7B width").
 * - `hostHeadGram`: that float64 loop in JavaScript, one core; kept as the reference.
 * Both accumulate in float64 and round once to float32, so they give the same float32 values (unless a
 * float64 sum lies within about 1e-16 of a float32 rounding boundary), and statistics do not move. A
 * float32 MatMul would be 4x faster again but moves G by up to 3e-7 of its diagonal.
 * W_o is fed, not baked into the graph (as the spectral norms' products bake W): one run per layer, so
 * it crosses to runtime's host thread once either way, and one small session serves every layer and shape.
 */
import { DataType, encodeModel, type ModelProto, type ValueInfoProto } from '@llm-bip/onnx-io';
import type { LayerSpec } from '@llm-bip/model';
import { createSession, ort } from '@llm-bip/runtime';
import { ScoringError } from '../errors.js';
import type { LinearWeight, WeightSource } from '../weights.js';

/** W_o of a layer, checked against the layer's heads (the spec and the weight must agree). */
async function oProj(layer: LayerSpec, weights: WeightSource): Promise<LinearWeight> {
  const w = await weights.linear(layer.o);
  const { numHeads: H, headDim: D } = layer;
  if (w.inFeatures !== H * D) {
    throw new ScoringError(`layer ${layer.index}: o_proj takes ${w.inFeatures} inputs, expected numHeads*headDim = ${H * D}: the spec does not fit this weight`);
  }
  return w;
}

/** G_h for every query head, [H, D, D] in float32, accumulated in float64 in JavaScript (the reference). */
export async function hostHeadGram(layer: LayerSpec, weights: WeightSource): Promise<Float32Array> {
  const w = await oProj(layer, weights);
  const { numHeads: H, headDim: D } = layer;
  const out = w.outFeatures;
  const g = new Float32Array(H * D * D);
  for (let h = 0; h < H; h++) {
    for (let d = 0; d < D; d++) {
      const rd = (h * D + d) * out;
      for (let e = d; e < D; e++) {
        const re = (h * D + e) * out;
        let s = 0;
        for (let o = 0; o < out; o++) s += w.data[rd + o]! * w.data[re + o]!;
        g[h * D * D + d * D + e] = s;
        g[h * D * D + e * D + d] = s;
      }
    }
  }
  return g;
}

function tensorInfo(name: string, elemType: number, dims: Array<number | string>): ValueInfoProto {
  return {
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
  } as ValueInfoProto;
}

/** g = Cast<float>(W3 W3^T), W3 = Cast<double>(Reshape(w, [H, D, out])): w [H*D, out] and the shape are fed. */
function headGramGraph(): ModelProto {
  const to = (t: number) => [{ name: 'to', type: 2, i: t }];
  return {
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    producerName: 'llm-bip head Gram matrices',
    graph: {
      name: 'head_gram',
      node: [
        { opType: 'Reshape', name: 'heads', input: ['w', 'shape'], output: ['w3'] },
        { opType: 'Cast', name: 'to_double', input: ['w3'], output: ['w3d'], attribute: to(DataType.DOUBLE) },
        { opType: 'Transpose', name: 'wt', input: ['w3d'], output: ['w3t'], attribute: [{ name: 'perm', type: 7, ints: [0, 2, 1] }] },
        { opType: 'MatMul', name: 'gram', input: ['w3d', 'w3t'], output: ['gd'] },
        { opType: 'Cast', name: 'to_float', input: ['gd'], output: ['g'], attribute: to(DataType.FLOAT) },
      ],
      input: [tensorInfo('w', DataType.FLOAT, ['in', 'out']), tensorInfo('shape', DataType.INT64, [3])],
      output: [tensorInfo('g', DataType.FLOAT, ['heads', 'head_dim', 'head_dim'])],
    },
  } as ModelProto;
}

/**
 * G for each of `layers` (by layer index) in ORT: one small CPU session for all of them, one run per
 * layer, released before returning. One o_proj is in memory at a time.
 */
export async function headGrams(layers: readonly LayerSpec[], weights: WeightSource, opts: { threads?: number } = {}): Promise<Map<number, Float32Array>> {
  const grams = new Map<number, Float32Array>();
  if (layers.length === 0) return grams;
  const session = await createSession({ path: 'head Gram graph', bytes: encodeModel(headGramGraph()) }, { ep: 'cpu', ...(opts.threads ? { threads: opts.threads } : {}) });
  try {
    for (const layer of layers) {
      const w = await oProj(layer, weights);
      const out = await session.run({
        w: new ort.Tensor('float32', w.data, [w.inFeatures, w.outFeatures]),
        shape: new ort.Tensor('int64', BigInt64Array.from([layer.numHeads, layer.headDim, w.outFeatures].map(BigInt)), [3]),
      });
      grams.set(layer.index, out.g!.data as Float32Array);
    }
  } finally {
    await session.release();
  }
  return grams;
}
