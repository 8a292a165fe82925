/** Test helpers: tiny models, seeded plans, ORT runs, and the "zeroed dense" reference model. */
import { join } from 'node:path';
import { DataType, bytesToFloat32, encodeFloats, float16ToFloat32, loadModel, readTensorBytes, replaceTensors, saveModel, tensorDims, type LoadedModel, type TensorProto } from '@llm-bip/onnx-io';
import { planModelShape, range, recogniseModel, PLAN_FORMAT, type ModelSpec, type PruningPlan } from '@llm-bip/model';
import { buildTinyLlama, type TinyLlamaShape, mulberry32 } from '@llm-bip/testing';
import { ort, type OrtTensor } from '@llm-bip/runtime';

export interface TinyCase {
  loaded: LoadedModel;
  spec: ModelSpec;
  hfDir: string;
  dtype: 'float32' | 'float16';
  kvCache: boolean;
}

export const MHA: TinyLlamaShape = { seed: 1, hiddenSize: 64, numLayers: 3, numHeads: 4, numKvHeads: 4, intermediateSize: 96, vocabSize: 97 };
export const GQA: TinyLlamaShape = { seed: 2, hiddenSize: 64, numLayers: 3, numHeads: 8, numKvHeads: 2, headDim: 8, intermediateSize: 80, vocabSize: 97 };

export async function tinyCase(dir: string, shape: TinyLlamaShape, dtype: 'float32' | 'float16', kvCache: boolean): Promise<TinyCase> {
  const t = await buildTinyLlama(shape, { dir, dtype, kvCache, externalData: true });
  const loaded = await loadModel(t.onnxPath);
  return { loaded, spec: recogniseModel(loaded.model), hfDir: t.hfDir, dtype, kvCache };
}

/** Seeded uniform numbers in [0, 1) (onnx-io's mulberry32). */
export const rng = mulberry32;

function pick(next: () => number, n: number, keep: number): number[] {
  const idx = range(n);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [idx[i], idx[j]] = [idx[j]!, idx[i]!];
  }
  return idx.slice(0, keep).sort((a, b) => a - b);
}

/**
 * A seeded plan: each layer keeps a random subset of KV groups (with their query heads) and channels.
 * `zeroHeads` / `zeroChannels` name layers that lose everything.
 */
export function randomPlan(spec: ModelSpec, seed: number, opts: { zeroHeads?: readonly number[]; zeroChannels?: readonly number[] } = {}): PruningPlan {
  const next = rng(seed);
  return {
    format: PLAN_FORMAT,
    model: planModelShape(spec, ''),
    criterion: 'random',
    ratio: 0.4,
    allocation: 'test',
    headGranularity: spec.layers[0]!.numKvHeads === spec.layers[0]!.numHeads ? 'head' : 'kv-group',
    seed,
    layers: spec.layers.map((l) => {
      const rep = l.numHeads / l.numKvHeads;
      const kv = opts.zeroHeads?.includes(l.index) ? [] : pick(next, l.numKvHeads, 1 + Math.floor(next() * (l.numKvHeads - 1)));
      const channels = opts.zeroChannels?.includes(l.index) ? [] : pick(next, l.intermediateSize, 1 + Math.floor(next() * (l.intermediateSize - 1)));
      return { layer: l.index, keepKvHeads: kv, keepHeads: kv.flatMap((g) => range(rep).map((r) => g * rep + r)), keepChannels: channels };
    }),
  };
}

/** Removed index lists of a layer (heads, channels). */
export function removed(spec: ModelSpec, plan: PruningPlan, layer: number): { heads: number[]; channels: number[] } {
  const l = spec.layers[layer]!;
  const lp = plan.layers[layer]!;
  return {
    heads: range(l.numHeads).filter((h) => !lp.keepHeads.includes(h)),
    channels: range(l.intermediateSize).filter((c) => !lp.keepChannels.includes(c)),
  };
}

/** The dense model with the plan's pruned groups zeroed: o_proj rows of removed heads, down_proj rows of removed channels. */
export async function writeZeroedDense(c: TinyCase, plan: PruningPlan, out: string): Promise<string> {
  const g = c.loaded.model.graph!;
  const replacements = new Map<TensorProto, TensorProto>();
  // zero input features `rows` of a projection weight ([in, out] when outAxis = 1, else [out, in])
  const zeroInputs = async (name: string, outAxis: 0 | 1, rows: number[]) => {
    if (rows.length === 0) return;
    const t = g.initializer!.find((x) => x.name === name)!;
    const dims = tensorDims(t);
    const values = bytesToFloat32(await readTensorBytes(t, c.loaded.dir), t.dataType!, name);
    for (const r of rows) {
      if (outAxis === 1) values.fill(0, r * dims[1]!, (r + 1) * dims[1]!);
      else for (let o = 0; o < dims[0]!; o++) values[o * dims[1]! + r] = 0;
    }
    replacements.set(t, { name, dataType: t.dataType, dims, rawData: encodeFloats(values, t.dataType!) });
  };
  for (const l of c.spec.layers) {
    const r = removed(c.spec, plan, l.index);
    await zeroInputs(l.o.weight, l.o.outAxis, r.heads.flatMap((h) => range(l.headDim).map((i) => h * l.headDim + i)));
    await zeroInputs(l.down.weight, l.down.outAxis, r.channels);
  }
  const path = join(out, 'zeroed.onnx');
  await saveModel(replaceTensors(c.loaded.model, replacements), path, { sourceDir: c.loaded.dir });
  return path;
}

export async function session(path: string) {
  return ort.InferenceSession.create(path, { executionProviders: ['cpu'], intraOpNumThreads: 1, graphOptimizationLevel: 'all' });
}

type Session = Awaited<ReturnType<typeof session>>;

export function ids(batch: number, seq: number, vocab: number, seed = 7): number[][] {
  const next = rng(seed);
  return Array.from({ length: batch }, () => Array.from({ length: seq }, () => Math.floor(next() * vocab)));
}

function int64(rows: number[][]): OrtTensor {
  return new ort.Tensor('int64', BigInt64Array.from(rows.flat(), (v) => BigInt(v)), [rows.length, rows[0]!.length]);
}

/** One forward: token ids after `pastLen` cached tokens (past feeds from `past`, or empty caches). */
export async function forward(s: Session, tokens: number[][], past?: Record<string, OrtTensor>, pastLen = 0, headDim?: number): Promise<{ logits: Float32Array; dims: number[]; present: Record<string, OrtTensor> }> {
  const b = tokens.length;
  const t = tokens[0]!.length;
  const feeds: Record<string, OrtTensor> = {};
  for (const name of s.inputNames) {
    if (name === 'input_ids') feeds[name] = int64(tokens);
    else if (name === 'attention_mask') feeds[name] = int64(tokens.map(() => range(pastLen + t).map(() => 1)));
    else if (name === 'position_ids') feeds[name] = int64(tokens.map(() => range(t).map((i) => pastLen + i)));
    else if (past?.[name]) feeds[name] = past[name]!;
    else {
      const meta = (s as unknown as { inputMetadata: Array<{ name: string; shape: Array<number | string>; type: string }> }).inputMetadata.find((m) => m.name === name)!;
      const heads = meta.shape[1] as number;
      const d = typeof meta.shape[3] === 'number' ? meta.shape[3] : headDim!;
      feeds[name] = meta.type === 'float16' ? new ort.Tensor('float16', new Uint16Array(0), [b, heads, 0, d]) : new ort.Tensor('float32', new Float32Array(0), [b, heads, 0, d]);
    }
  }
  const out = await s.run(feeds);
  const present: Record<string, OrtTensor> = {};
  for (const [k, v] of Object.entries(out)) {
    const m = /^present\.(\d+)\.(key|value)$/.exec(k);
    if (m) present[`past_key_values.${m[1]}.${m[2]}`] = v;
  }
  const logits = out['logits']!;
  const data = logits.type === 'float16' ? float16ToFloat32(logits.data as Uint16Array) : (logits.data as Float32Array);
  return { logits: data, dims: [...logits.dims], present };
}

/** The logits of one full forward of `tokens` through the model at `path` (its own session, released after). */
export async function logitsOf(path: string, tokens: number[][], headDim?: number): Promise<Float32Array> {
  const s = await session(path);
  try {
    return (await forward(s, tokens, undefined, 0, headDim)).logits;
  } finally {
    await s.release();
  }
}

export { maxAbs, maxAbsDiff } from '@llm-bip/testing';
export { DataType };
