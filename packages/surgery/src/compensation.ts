/**
 * Bias compensation (FLAP): a pruned input j of o_proj / down_proj contributed W[:, j] · x_j; replacing
 * x_j by its calibration mean keeps the expected output, b = W[:, pruned] · mean(x[pruned]).
 */
import { bytesToFloat32, readTensorBytes, tensorDims, type TensorProto } from '@llm-bip/onnx-io';
import type { CompensationStats, LinearRef } from '@llm-bip/model';
import { SurgeryError } from './errors.js';
import type { Block } from './edits.js';

/**
 * b[j] = Σ_{i ∈ removed} W(i → j) · mean[i], in float64. W is the projection weight as stored:
 * [in, out] when outAxis = 1 (MatMul), [out, in] when outAxis = 0 (Gemm transB).
 */
export function compensationBias(weight: Float32Array, dims: readonly number[], outAxis: 0 | 1, removed: readonly number[], mean: ArrayLike<number>): Float64Array {
  if (dims.length !== 2) throw new SurgeryError(`compensation needs a 2-D weight, got dims [${dims}]`);
  const [d0, d1] = dims as [number, number];
  const nOut = outAxis === 1 ? d1 : d0;
  const b = new Float64Array(nOut);
  for (const i of removed) {
    const m = mean[i]!;
    if (m === 0) continue;
    if (outAxis === 1) {
      const row = i * d1;
      for (let j = 0; j < d1; j++) b[j]! += weight[row + j]! * m;
    } else {
      for (let j = 0; j < d0; j++) b[j]! += weight[j * d1 + i]! * m;
    }
  }
  return b;
}

/** The mean vector for one projection from the saved statistics, checked against its input width. */
export function meanFor(stats: CompensationStats, layer: number, block: Block, width: number): number[] {
  const entry = stats.layers.find((l) => l.layer === layer);
  if (!entry) throw new SurgeryError(`compensation statistics have no entry for layer ${layer}; collect them for every pruned layer (llm-bip stats) or prune without --compensate`);
  const mean = block === 'attention' ? entry.oProjInputMean : entry.downProjInputMean;
  const what = block === 'attention' ? 'oProjInputMean' : 'downProjInputMean';
  if (!Array.isArray(mean) || mean.length !== width) {
    throw new SurgeryError(`compensation statistics for layer ${layer}: ${what} has ${Array.isArray(mean) ? mean.length : 'no'} values, the projection has ${width} inputs; the statistics were collected on another model`);
  }
  return mean;
}

/** Read a projection weight (one tensor) and compute its compensation bias. */
export async function compensationFor(linear: LinearRef, weight: TensorProto, baseDir: string, removed: readonly number[], mean: ArrayLike<number>): Promise<Float64Array> {
  if (linear.columns) throw new SurgeryError(`compensation after a fused projection ("${linear.weight}" columns ${linear.columns.start}..${linear.columns.end}) is not supported`);
  const dims = tensorDims(weight);
  const values = bytesToFloat32(await readTensorBytes(weight, baseDir), weight.dataType ?? 0, linear.weight);
  return compensationBias(values, dims, linear.outAxis, removed, mean);
}
