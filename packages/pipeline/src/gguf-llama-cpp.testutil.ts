/**
 * Shared steps of the llama.cpp checks: a test-bed model exported to ONNX, pruned by seeded plans
 * with uneven per-layer widths (KV heads too, under GQA), written as GGUF, and compared with our ONNX
 * evaluation on WikiText-2.
 */
import { copyFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { emptyPlan, exportGguf, exportLlamaToOnnx, recogniseModel, type ExportGgufResult, type GgufDtype, type ModelSpec, type PruningPlan } from '@llm-bip/model';
import { loadModel } from '@llm-bip/onnx-io';
import { createScoringSession, encodeCached, forwardTokenScores, loadTextDataset, loadTokenizer, locatePerplexitySet, splitWindows } from '@llm-bip/eval';
import { createSession, greedyDecode, makeTokenBatch } from '@llm-bip/runtime';
import { mulberry32 } from '@llm-bip/scoring';
import { pruneModel } from '@llm-bip/surgery';

export const SHARED = join(import.meta.dirname, '../../../../shared');
export const DATA = join(SHARED, 'data');

export async function exportTestbed(name: string, dir: string): Promise<string> {
  const hf = join(SHARED, 'testbed', name);
  const onnx = join(dir, 'model.onnx');
  await exportLlamaToOnnx(hf, onnx, { dtype: 'float32', kvCache: false });
  for (const f of ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json']) copyFileSync(join(hf, f), join(dir, f));
  return onnx;
}

export async function specOf(onnx: string): Promise<ModelSpec> {
  const loaded = await loadModel(onnx);
  return recogniseModel(loaded.model, { modelDir: loaded.dir, source: onnx });
}

/**
 * A grouped-query-attention plan: layer l keeps the KV heads `kvHeads[l]` (each with its whole group of
 * query heads, as plans must) and `channels[l]` FFN channels chosen by a seeded shuffle.
 */
export function groupPlan(spec: ModelSpec, kvHeads: number[][], channels: number[], seed: number): PruningPlan {
  const plan = seededPlan(spec, spec.layers.map((l) => l.numHeads), channels, seed);
  plan.layers = plan.layers.map((lp, i) => {
    const rep = spec.layers[i]!.numHeads / spec.layers[i]!.numKvHeads;
    return { ...lp, keepKvHeads: kvHeads[i]!, keepHeads: kvHeads[i]!.flatMap((g) => Array.from({ length: rep }, (_, r) => g * rep + r)) };
  });
  return plan;
}

/** A plan keeping `heads[l]` heads and `channels[l]` channels of layer l, chosen by a seeded shuffle. */
export function seededPlan(spec: ModelSpec, heads: number[], channels: number[], seed: number): PruningPlan {
  const rand = mulberry32(seed);
  const pick = (n: number, keep: number) => {
    const idx = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [idx[i], idx[j]] = [idx[j]!, idx[i]!];
    }
    return idx.slice(0, keep).sort((a, b) => a - b);
  };
  const plan = emptyPlan(spec);
  plan.criterion = 'seeded-test';
  plan.layers = spec.layers.map((l, i) => {
    const keepHeads = pick(l.numHeads, heads[i]!);
    return { layer: l.index, keepHeads, keepKvHeads: keepHeads, keepChannels: pick(l.intermediateSize, channels[i]!) };
  });
  return plan;
}

/** Prune `onnx` by `plan` into `dir`; with `biases`, seeded compensation means add o_proj / down_proj biases. */
export async function pruneInto(onnx: string, spec: ModelSpec, plan: PruningPlan, dir: string, biases: boolean): Promise<string> {
  const rand = mulberry32(7);
  const compensation = biases
    ? {
        layers: spec.layers.map((l) => ({
          layer: l.index,
          oProjInputMean: Array.from({ length: l.numHeads * l.headDim }, () => (rand() - 0.5) * 0.2),
          downProjInputMean: Array.from({ length: l.intermediateSize }, () => (rand() - 0.5) * 0.2),
        })),
      }
    : undefined;
  const res = await pruneModel({ model: onnx, spec, plan, outPath: join(dir, 'model.onnx'), ...(compensation ? { compensation } : {}) });
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) if (existsSync(join(onnx, '..', f))) copyFileSync(join(onnx, '..', f), join(dir, f));
  return res.modelPath;
}

export async function toGguf(onnx: string, dtype: GgufDtype): Promise<ExportGgufResult> {
  const loaded = await loadModel(onnx);
  const spec = recogniseModel(loaded.model, { modelDir: loaded.dir, source: onnx });
  return exportGguf({ loaded, spec }, onnx.replace(/\.onnx$/, `.${dtype}.gguf`), { dtype });
}

/** The first `n` windows of `seqLen` tokens of WikiText-2 test (the perplexity protocol's windows). */
export async function wikitextWindows(tokenizerDir: string, n: number, seqLen = 128): Promise<number[][]> {
  const ds = await loadTextDataset('wikitext2', locatePerplexitySet('wikitext2', DATA));
  // enough text for n windows: tokenizing the whole test set takes seconds on one core
  const text = ds.text.slice(0, n * seqLen * 8);
  const { ids } = encodeCached(loadTokenizer(tokenizerDir), text);
  const windows = splitWindows(ids, seqLen, n);
  if (windows.length < n) throw new Error(`only ${windows.length} windows in the text slice`);
  return windows;
}

/** Our ONNX evaluation: per-token log-probs of each window (the in-graph scoring head perplexity uses). */
export async function onnxLogProbs(onnx: string, windows: number[][]): Promise<number[][]> {
  const { session, cleanup } = await createScoringSession(onnx, { ep: 'cpu', threads: 2 });
  try {
    const out: number[][] = [];
    for (const w of windows) {
      const targets = new Int32Array(w.length);
      for (let t = 0; t + 1 < w.length; t++) targets[t] = w[t + 1]!;
      const s = await forwardTokenScores(session, makeTokenBatch([w]), targets);
      out.push(Array.from(s.logprob.subarray(0, w.length - 1)));
    }
    return out;
  } finally {
    await session.release();
    await cleanup();
  }
}

export async function onnxGreedy(onnx: string, prompts: number[][], newTokens: number): Promise<number[][]> {
  const session = await createSession(onnx, { ep: 'cpu', threads: 2 });
  try {
    return (await greedyDecode(session, prompts, { maxNewTokens: newTokens, useKvCache: false })).tokens;
  } finally {
    await session.release();
  }
}

export interface Agreement {
  /** max over tokens of |lp_llama - lp_onnx| / max(|lp_onnx|, 1) */
  maxTokenRel: number;
  maxTokenAbs: number;
  /** |ppl_llama / ppl_onnx - 1| over all windows (= relative difference of exp(mean NLL)) */
  pplRel: number;
  pplOnnx: number;
  pplLlama: number;
}

export function agreement(ours: number[][], theirs: number[][]): Agreement {
  let maxTokenRel = 0;
  let maxTokenAbs = 0;
  let nllO = 0;
  let nllL = 0;
  let n = 0;
  ours.forEach((w, i) =>
    w.forEach((o, t) => {
      const l = theirs[i]![t]!;
      maxTokenAbs = Math.max(maxTokenAbs, Math.abs(l - o));
      maxTokenRel = Math.max(maxTokenRel, Math.abs(l - o) / Math.max(Math.abs(o), 1));
      nllO -= o;
      nllL -= l;
      n++;
    }),
  );
  const pplOnnx = Math.exp(nllO / n);
  const pplLlama = Math.exp(nllL / n);
  return { maxTokenRel, maxTokenAbs, pplRel: Math.abs(pplLlama / pplOnnx - 1), pplOnnx, pplLlama };
}
