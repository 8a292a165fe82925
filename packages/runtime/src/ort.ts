// The only import of onnxruntime-node in the project: an ORT upgrade touches this file.
import ort from 'onnxruntime-node';

export { ort };
export type OrtTensor = ort.Tensor;
export type OrtSession = ort.InferenceSession;
export type OrtValueMetadata = ort.InferenceSession.ValueMetadata;
