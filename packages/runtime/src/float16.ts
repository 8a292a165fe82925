// onnxruntime-node returns float16 tensors as raw Uint16Array bit patterns; the conversions live in
// onnx-io (one implementation for weights and tensors alike), re-exported under the runtime's names.
export { halfToFloat as decodeHalf, floatToHalf as encodeHalf, float16ToFloat32, float32ToFloat16 } from '@llm-bip/onnx-io';
