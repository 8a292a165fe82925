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

/** The logits output of a run, as float32 (our exports cast fp16 logits up; the torch fixtures emit float32). */
export const logitsOf = (out: Record<string, OrtTensor>): Float32Array => out.logits!.data as Float32Array;

/** past_key_values.* feeds of sequence length 0: the cache before a session's first run. */
export function emptyPast(session: OrtSession, batch: number, shape: { numKvHeads: number; headDim: number }, dtype: 'float32' | 'float16' = 'float32'): Record<string, OrtTensor> {
  const data = () => (dtype === 'float16' ? new Uint16Array(0) : new Float32Array(0));
  return Object.fromEntries(
    session.inputNames.filter((i) => i.startsWith('past_key_values.')).map((i) => [i, new ort.Tensor(dtype, data(), [batch, shape.numKvHeads, 0, shape.headDim])]),
  );
}

/**
 * Decodes `ids` as a generator would: `prefill` tokens, then one at a time, from an empty cache, each
 * run fed the previous run's present.* as past_key_values.*. Returns every position's logits
 * [batch, seq, vocab], laid out as one full forward's; `onStep` sees each run's outputs and where it started.
 */
export async function decodeInSteps(
  session: OrtSession,
  ids: number[][],
  shape: { vocabSize: number; numKvHeads: number; headDim: number },
  opts: { prefill: number; dtype?: 'float32' | 'float16'; onStep?: (out: Record<string, OrtTensor>, pos: number, len: number) => void },
): Promise<Float32Array> {
  const V = shape.vocabSize;
  const S = ids[0]!.length;
  const presents = session.outputNames.filter((o) => o.startsWith('present.'));
  const stepped = new Float32Array(ids.length * S * V);
  let past = emptyPast(session, ids.length, shape, opts.dtype);
  let pos = 0;
  for (const len of [opts.prefill, ...Array.from({ length: S - opts.prefill }, () => 1)]) {
    const chunk = ids.map((r) => r.slice(pos, pos + len));
    const out = await session.run({ ...forwardFeeds(chunk, { past: pos }), ...past });
    const l = logitsOf(out);
    for (let b = 0; b < ids.length; b++) stepped.set(l.subarray(b * len * V, (b + 1) * len * V), (b * S + pos) * V);
    past = Object.fromEntries(presents.map((p) => [p.replace('present.', 'past_key_values.'), out[p]!]));
    opts.onStep?.(out, pos, len);
    pos += len;
  }
  return stepped;
}
