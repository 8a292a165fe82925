/** Test helper: move some weights of an exported graph behind a Transpose or a Cast, as other exporters store them. */
import { GraphIndex, cloneModel, DataType, type ModelProto, type TensorProto, bytesToFloat32, elementSize, float32ToFloat16, inlineTensorBytes, tensorDims } from '@llm-bip/onnx-io';

function transposed(t: TensorProto, name: string): TensorProto {
  const [r, c] = tensorDims(t) as [number, number];
  const es = elementSize(t.dataType ?? 0);
  const src = inlineTensorBytes(t);
  const out = new Uint8Array(src.length);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out.set(src.subarray((i * c + j) * es, (i * c + j + 1) * es), (j * r + i) * es);
  return { name, dataType: t.dataType, dims: [c, r], rawData: out };
}

/**
 * Layer `layer`'s q_proj weight stored [out, in] behind a Transpose, and its up_proj weight stored as
 * float16 behind a Cast to float32 (an fp32 graph is expected).
 */
export function moveWeightsBehindOps(model: ModelProto, layer: number): { model: ModelProto; qWeight: string; upWeight: string } {
  const m = cloneModel(model);
  const g = m.graph!;
  const ix = new GraphIndex(g);
  const q = ix.requireNode(`/model/layers.${layer}/self_attn/q_proj/MatMul`);
  const up = ix.requireNode(`/model/layers.${layer}/mlp/up_proj/MatMul`);
  const qOld = ix.initializer(q.input![1]!)!;
  const upOld = ix.initializer(up.input![1]!)!;
  const qWeight = `${qOld.name}.out_in`;
  const upWeight = `${upOld.name}.fp16`;
  const upHalf = float32ToFloat16(bytesToFloat32(inlineTensorBytes(upOld), upOld.dataType ?? 0));
  g.initializer = g.initializer!.filter((t) => t !== qOld && t !== upOld);
  g.initializer.push(transposed(qOld, qWeight), {
    name: upWeight,
    dataType: DataType.FLOAT16,
    dims: tensorDims(upOld),
    rawData: new Uint8Array(upHalf.buffer, upHalf.byteOffset, upHalf.byteLength),
  });
  g.node!.unshift(
    { name: 'test/q_weight_transpose', opType: 'Transpose', input: [qWeight], output: ['test/q_weight'], attribute: [{ name: 'perm', type: 7, ints: [1, 0] }] },
    { name: 'test/up_weight_cast', opType: 'Cast', input: [upWeight], output: ['test/up_weight'], attribute: [{ name: 'to', type: 2, i: DataType.FLOAT }] },
  );
  q.input![1] = 'test/q_weight';
  up.input![1] = 'test/up_weight';
  return { model: m, qWeight, upWeight };
}
