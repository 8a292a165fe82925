/**
 * Test helper: onnxruntime-node for the exporter's tests. onnx-io cannot depend on @llm-bip/runtime
 * (runtime depends on onnx-io) and does not list onnxruntime-node itself, so the module is loaded
 * from the runtime package's dependencies, with the narrow types these tests use.
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface OrtTensor {
  readonly data: Float32Array | BigInt64Array | Uint16Array;
  readonly dims: readonly number[];
  readonly type: string;
}
export interface OrtSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
}
interface Ort {
  InferenceSession: { create(path: string, opts?: Record<string, unknown>): Promise<OrtSession> };
  Tensor: new (type: string, data: Float32Array | BigInt64Array | Uint16Array, dims: number[]) => OrtTensor;
}

const runtimePackage = join(fileURLToPath(new URL('.', import.meta.url)), '../../../runtime/package.json');
export const ort = createRequire(runtimePackage)('onnxruntime-node') as Ort;

export function openSession(path: string): Promise<OrtSession> {
  return ort.InferenceSession.create(path, { executionProviders: ['cpu'], intraOpNumThreads: 1, graphOptimizationLevel: 'all' });
}

export function int64Tensor(rows: number[][]): OrtTensor {
  return new ort.Tensor('int64', BigInt64Array.from(rows.flat(), (v) => BigInt(v)), [rows.length, rows[0]?.length ?? 0]);
}

/** Inputs for one forward: ids, mask (default ones over past + seq), positions (default past..past+seq-1). */
export function forwardFeeds(ids: number[][], opts: { mask?: number[][]; positions?: number[][]; past?: number } = {}): Record<string, OrtTensor> {
  const past = opts.past ?? 0;
  const mask = opts.mask ?? ids.map((r) => Array.from({ length: past + r.length }, () => 1));
  const positions = opts.positions ?? ids.map((r) => r.map((_, t) => past + t));
  return { input_ids: int64Tensor(ids), attention_mask: int64Tensor(mask), position_ids: int64Tensor(positions) };
}
