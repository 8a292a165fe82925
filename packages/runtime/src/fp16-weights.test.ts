// keepFp16Weights: what ORT's CPU EP does with float16 weights by default (float32 copies of some of
// them, stored in the optimised graph) and that the option stops it without changing the results
// beyond float16 rounding. ORT's optimised graph is read back from the file ORT writes on request.
import { join } from 'node:path';
import { DataType, loadModel, tensorDims } from '@llm-bip/onnx-io';
import { buildTinyLlama, tempDir, type TinyLlama } from '@llm-bip/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ort } from './ort.js';
import { createSession, FP16_WEIGHT_COPIES, ortOptions, type SessionOptions } from './session.js';
import { int64Tensor } from './tensors.js';

const SHAPE = { seed: 5, hiddenSize: 64, numLayers: 2, numHeads: 4, numKvHeads: 4, intermediateSize: 96, vocabSize: 50 };
const tmp = tempDir('runtime-fp16-');
let tiny: TinyLlama;

beforeAll(async () => {
  tiny = await buildTinyLlama(SHAPE, { dir: tmp.dir, dtype: 'float16', kvCache: false, externalData: true });
});
afterAll(() => tmp.cleanup());

/** Element types of the initializers of FFN weight size in the graph ORT optimised for `options`. */
async function ffnWeightTypes(options: SessionOptions, name: string): Promise<number[]> {
  const optimized = join(tmp.dir, `${name}.onnx`);
  const extra = { ...(ortOptions('cpu', options).extra as Record<string, Record<string, string>> | undefined) };
  // large initializers of the dump go to a data file beside it, as the model's own do
  extra.session = { ...extra.session, optimized_model_external_initializers_file_name: `${name}.data`, optimized_model_external_initializers_min_size_in_bytes: '64' };
  const s = await ort.InferenceSession.create(tiny.onnxPath, { ...ortOptions('cpu', options), optimizedModelFilePath: optimized, extra });
  await s.release();
  const { model } = await loadModel(optimized);
  const ffnSize = SHAPE.hiddenSize * SHAPE.intermediateSize;
  return (model.graph?.initializer ?? []).filter((t) => tensorDims(t).reduce((a, b) => a * b, 1) === ffnSize).map((t) => t.dataType ?? 0);
}

describe('keepFp16Weights (CPU EP, float16 models)', () => {
  it('maps to the CPU EP options that stop the float32 weight copies, and to nothing on other EPs', () => {
    const cpu = ortOptions('cpu', { keepFp16Weights: true, prepack: false });
    expect(cpu.enableCpuMemArena).toBe(false);
    expect(cpu.enableMemPattern).toBe(false);
    expect(cpu.extra).toEqual({ session: { disable_prepacking: '1' }, optimization: { disable_specified_optimizers: FP16_WEIGHT_COPIES } });
    const cuda = ortOptions('cuda', { keepFp16Weights: true });
    // CUDA: only its own default (initializers outside the arena), none of the CPU EP's options
    expect(cuda.extra).toEqual({ session: { use_device_allocator_for_initializers: '1' } });
    expect(cuda.enableCpuMemArena).toBeUndefined();
    expect(ortOptions('cpu', {}).extra).toBeUndefined();
  });

  it("ORT's default graph holds float32 copies of the FFN weights; with the option every one stays float16", async () => {
    const byDefault = await ffnWeightTypes({}, 'default');
    const kept = await ffnWeightTypes({ keepFp16Weights: true }, 'kept');
    // gate, up and down of 2 layers: 6 matrices of hidden x FFN
    expect(byDefault).toHaveLength(6);
    expect(byDefault.filter((t) => t === DataType.FLOAT).length).toBeGreaterThan(0);
    expect(kept).toHaveLength(6);
    expect(kept.every((t) => t === DataType.FLOAT16)).toBe(true);
  });

  it('gives the same logits as the default session up to float16 rounding', async () => {
    const ids = [5, 9, 2, 7, 11, 3, 40, 1];
    const feeds = { input_ids: int64Tensor(ids, [1, 8]), attention_mask: int64Tensor(ids.map(() => 1), [1, 8]), position_ids: int64Tensor(ids.map((_, i) => i), [1, 8]) };
    const logits = async (keepFp16Weights: boolean) => {
      const s = await createSession(tiny.onnxPath, { ep: 'cpu', threads: 1, keepFp16Weights });
      const t = (await s.run(feeds)).logits!;
      await s.release();
      // the exporter casts fp16 logits to float32 at the graph's end
      expect(t.type).toBe('float32');
      return t.data as Float32Array;
    };
    const [plain, kept] = [await logits(false), await logits(true)];
    const scale = plain.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    let worst = 0;
    for (let i = 0; i < plain.length; i++) worst = Math.max(worst, Math.abs(kept[i]! - plain[i]!));
    // both compute in float32 around float16 weights; they differ where one rounds an intermediate to float16
    expect(scale).toBeGreaterThan(0);
    expect(worst / scale).toBeLessThan(5e-3);
  });
});
