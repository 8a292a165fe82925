/**
 * The strongest check that a ModelSpec is complete: prune one KV group (one head under MHA) of one
 * layer using only what the spec lists, run the pruned graph in onnxruntime, and compare with the dense
 * graph whose o_proj rows for that group are zeroed. A missed shape constant or attribute makes the
 * pruned graph fail to run or disagree.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fixtures, tempDir, buildTinyLlama, maxAbs, maxAbsDiff } from '@llm-bip/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { GraphIndex, decodeModel, DataType, type ModelProto, float16ToFloat32, float32ToFloat16 } from '@llm-bip/onnx-io';
import type { ModelSpec } from '../spec.js';
import { inlineExternalData, ort, pruneGroup, runModel, zeroGroup, type OrtTensor } from './prune-check.testutil.js';
import { recogniseModel } from './recognise.js';
import { moveWeightsBehindOps } from './weight-variants.testutil.js';
import { buildGenaiLike } from './genai-like.testutil.js';

const here = (f: string) => join(import.meta.dirname, 'fixtures', f);
const refIds: number[] = JSON.parse(readFileSync(fixtures.reference, 'utf8')).input_ids;

function floats(t: OrtTensor): Float32Array {
  return t.data instanceof Uint16Array ? float16ToFloat32(t.data) : (t.data as Float32Array);
}

function int64(rows: number[][]): OrtTensor {
  return new ort.Tensor('int64', BigInt64Array.from(rows.flat(), (v) => BigInt(v)), [rows.length, rows[0]!.length]);
}

/** Deterministic values in [-1, 1) for past caches. */
function pseudo(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

/** Feeds for batch `ids`, with `past` cached positions; `dropKv` removes one KV head of one layer's caches. */
function feeds(model: ModelProto, spec: ModelSpec, ids: number[][], past: number, dropKv?: { layer: number; head: number }): Record<string, OrtTensor> {
  const B = ids.length;
  const S = ids[0]!.length;
  const f: Record<string, OrtTensor> = { [spec.inputs.inputIds]: int64(ids) };
  if (spec.inputs.attentionMask) f[spec.inputs.attentionMask] = int64(ids.map(() => Array(past + S).fill(1)));
  if (spec.inputs.positionIds) f[spec.inputs.positionIds] = int64(ids.map(() => Array.from({ length: S }, (_, t) => past + t)));
  const ix = new GraphIndex(model.graph!);
  for (const l of spec.layers) {
    if (!l.kvCache) continue;
    for (const [k, name] of [l.kvCache.pastKey, l.kvCache.pastValue].entries()) {
      const KV = l.numKvHeads;
      const D = l.headDim;
      let data = pseudo(B * KV * past * D, 17 + l.index * 2 + k);
      let heads = KV;
      if (dropKv && dropKv.layer === l.index) {
        // [B, KV, P, D] without head dropKv.head
        const kept = new Float32Array(B * (KV - 1) * past * D);
        let o = 0;
        for (let b = 0; b < B; b++) for (let h = 0; h < KV; h++) {
          if (h === dropKv.head) continue;
          kept.set(data.subarray(((b * KV + h) * past) * D, ((b * KV + h + 1) * past) * D), o);
          o += past * D;
        }
        data = kept;
        heads = KV - 1;
      }
      const fp16 = (ix.graph.input ?? []).find((v) => v.name === name)?.type?.tensorType?.elemType === DataType.FLOAT16;
      f[name] = fp16 ? new ort.Tensor('float16', float32ToFloat16(data), [B, heads, past, D]) : new ort.Tensor('float32', data, [B, heads, past, D]);
    }
  }
  return f;
}

interface Case {
  name: string;
  load: () => Promise<ModelProto>;
  ids: number[][];
  past: number;
  layer: number;
  group: number;
  /** max |pruned - zeroed| over max |logits| */
  tol: number;
}

const dir = tempDir('llm-bip-prune-check-');
afterAll(dir.cleanup);
const loadFile = async (p: string) => inlineExternalData(decodeModel(readFileSync(p), p), dirname(p));
const own = (name: string, numKvHeads: number, dtype: 'float32' | 'float16', kvCache: boolean, numHeads = 4) => async () => {
  const t = await buildTinyLlama(
    { seed: 3, hiddenSize: 64, numLayers: 2, numHeads, numKvHeads, intermediateSize: 96, vocabSize: 128 },
    { dir: join(dir.dir, name), dtype, kvCache },
  );
  return loadFile(t.onnxPath);
};
const batch = [
  [5, 17, 99, 3, 64],
  [120, 7, 7, 42, 1],
];

const cases: Case[] = [
  { name: 'TorchScript fixture, layer 0 head 0', load: () => loadFile(fixtures.torchscript), ids: [refIds], past: 0, layer: 0, group: 0, tol: 2e-3 },
  { name: 'dynamo fixture, layer 3 head 5', load: () => loadFile(fixtures.dynamo), ids: [refIds], past: 0, layer: 3, group: 5, tol: 2e-3 },
  { name: 'genai fixture, layer 0 head 0', load: () => loadFile(fixtures.genai), ids: [refIds], past: 0, layer: 0, group: 0, tol: 2e-3 },
  { name: 'tiny TorchScript GQA fp32, layer 1 group 1', load: () => loadFile(here('torchscript.gqa-fp32.onnx')), ids: batch, past: 0, layer: 1, group: 1, tol: 1e-5 },
  { name: 'tiny TorchScript GQA fp16 + cache, layer 0 group 0', load: () => loadFile(here('torchscript.gqa-fp16-kv.onnx')), ids: batch, past: 3, layer: 0, group: 0, tol: 2e-3 },
  { name: 'tiny dynamo GQA fp32 (shared shape Concat), layer 0 group 1', load: () => loadFile(here('dynamo.gqa-fp32.onnx')), ids: batch, past: 0, layer: 0, group: 1, tol: 1e-5 },
  { name: 'tiny dynamo GQA fp16 + cache, layer 1 group 0', load: () => loadFile(here('dynamo.gqa-fp16-kv.onnx')), ids: batch, past: 3, layer: 1, group: 0, tol: 2e-3 },
  { name: 'llm-bip export GQA fp32 + cache, layer 1 group 1', load: own('gqa32kv', 2, 'float32', true), ids: batch, past: 2, layer: 1, group: 1, tol: 1e-5 },
  { name: 'llm-bip export, 8 heads of 8 (head_dim = head count), 2 KV heads, layer 0 group 1', load: own('collide', 2, 'float32', false, 8), ids: batch, past: 0, layer: 0, group: 1, tol: 1e-5 },
  {
    name: 'llm-bip export with q_proj stored [out, in] behind a Transpose, layer 1 group 0',
    load: async () => moveWeightsBehindOps(await own('transposed', 2, 'float32', false)(), 1).model,
    ids: batch,
    past: 0,
    layer: 1,
    group: 0,
    tol: 1e-5,
  },
  ...[true, false].map((packed) => ({
    name: `genai-style GQA, ${packed ? 'packed qkv_proj' : 'q/k/v + RotaryEmbedding'}, cache, layer 1 group 1`,
    load: async () => buildGenaiLike({ layers: 2, hidden: 64, numHeads: 4, numKvHeads: 2, headDim: 16, inter: 96, vocab: 128, seed: 11, packed }),
    ids: [batch[0]!], // GroupQueryAttention on CPU takes a prompt with a past only at batch size 1
    past: 2,
    layer: 1,
    group: 1,
    tol: 1e-5,
  })),
  { name: 'llm-bip export MHA fp16, layer 0 head 2', load: own('mha16', 4, 'float16', false), ids: batch, past: 0, layer: 0, group: 2, tol: 2e-3 },
];

describe('pruning one group by the spec equals zeroing its o_proj rows', () => {
  it.each(cases)('$name', async (c) => {
    const model = await c.load();
    const spec = recogniseModel(model);
    const l = spec.layers[c.layer]!;
    const dense = await runModel(model, feeds(model, spec, c.ids, c.past));
    const zeroed = await runModel(zeroGroup(model, spec, c.layer, c.group), feeds(model, spec, c.ids, c.past));
    const pruned = await runModel(pruneGroup(model, spec, c.layer, c.group), feeds(model, spec, c.ids, c.past, { layer: c.layer, head: c.group }));
    const scale = maxAbs(floats(dense[spec.logits]!));
    const err = maxAbsDiff(floats(pruned[spec.logits]!), floats(zeroed[spec.logits]!)) / scale;
    const effect = maxAbsDiff(floats(dense[spec.logits]!), floats(zeroed[spec.logits]!)) / scale;
    console.log(`${c.name}: relative error ${err.toExponential(2)}, effect of the prune ${effect.toExponential(2)}`);
    expect(err).toBeLessThanOrEqual(c.tol);
    // the prune changed the output far more than the tolerance: the comparison can fail
    expect(effect).toBeGreaterThan(10 * c.tol);
    if (l.kvCache) {
      // the pruned present cache is the dense one without the group's KV head
      const p = floats(pruned[l.kvCache.presentKey]!);
      const d = floats(zeroed[l.kvCache.presentKey]!);
      const [B, , T, D] = zeroed[l.kvCache.presentKey]!.dims as number[];
      expect(pruned[l.kvCache.presentKey]!.dims).toEqual([B, l.numKvHeads - 1, T, D]);
      const kept = [...Array(l.numKvHeads).keys()].filter((h) => h !== c.group);
      let worst = 0;
      for (let b = 0; b < B!; b++) kept.forEach((h, hp) => {
        for (let i = 0; i < T! * D!; i++) worst = Math.max(worst, Math.abs(p[((b * (l.numKvHeads - 1) + hp) * T! * D!) + i]! - d[((b * l.numKvHeads + h) * T! * D!) + i]!));
      });
      expect(worst).toBeLessThanOrEqual(c.tol * 10);
    }
  });

  it('a prune that ignores the ShapeUses breaks the dynamo graph (the ShapeUses are needed)', async () => {
    const model = await loadFile(fixtures.dynamo);
    const spec = recogniseModel(model);
    const pruned = pruneGroup(model, spec, 0, 0, { skipShapeUses: true });
    await expect(runModel(pruned, feeds(model, spec, [refIds], 0))).rejects.toThrow();
  });
});
