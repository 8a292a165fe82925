import { afterAll, describe, expect, it } from 'vitest';
import { DataType, isExternal, loadModel, type LoadedModel } from '@llm-bip/onnx-io';
import { recogniseModel, type ModelSpec } from '@llm-bip/model';
import { fixtures, tempDir } from '@llm-bip/testing';
import { ffnMatrices, gramGroupGraph, gramGroups } from './gram-group.js';
import { spectralNorms } from './spectral.js';
import { tinyCase } from './tiny-models.testutil.js';
import { modelWeights } from './weights.js';
import type { SpectralNorms } from './types.js';

const tmp = tempDir('gram-group-');
afterAll(tmp.cleanup);

const SHAPE = { seed: 5, hiddenSize: 32, numLayers: 4, numHeads: 4, numKvHeads: 2, intermediateSize: 48, vocabSize: 64 };

/** The reference: float64 host products, Lanczos to 1e-12. */
async function hostNorms(loaded: LoadedModel, spec: ModelSpec): Promise<SpectralNorms> {
  return spectralNorms(spec, modelWeights(loaded.model, loaded.dir), { products: 'host', tolerance: 1e-12 });
}

async function lockstep(loaded: LoadedModel, spec: ModelSpec, maxDeviceMemory?: number, lines: string[] = []): Promise<SpectralNorms> {
  return spectralNorms(spec, modelWeights(loaded.model, loaded.dir), { model: loaded, ep: 'cpu', ...(maxDeviceMemory !== undefined ? { maxDeviceMemory } : {}), onLog: (l) => lines.push(l) });
}

/** float32 products at the default tolerance 1e-6: within 2e-6 of the float64 reference (spectral.test.ts, same bound) */
function expectClose(got: SpectralNorms, want: SpectralNorms): void {
  expect(got.layers.map((l) => l.layer)).toEqual(want.layers.map((l) => l.layer));
  got.layers.forEach((l, i) => {
    const e = want.layers[i]!;
    expect(l.gmax).toBe(e.gmax);
    for (const k of ['down', 'gate', 'up'] as const) expect(Math.abs(l[k] / e[k] - 1), `layer ${l.layer} ${k}`).toBeLessThan(2e-6);
  });
}

describe('spectral norms in lockstep on the scoring EP (CPU EP here)', () => {
  for (const dtype of ['float32', 'float16'] as const) {
    it(`${dtype} export: one session for every layer, norms within 2e-6 of the float64 host Lanczos; progress for every matrix`, async () => {
      const c = await tinyCase(tmp.dir, `one-${dtype}`, SHAPE, dtype);
      const loaded = await loadModel(c.onnxPath);
      const lines: string[] = [];
      const seen: string[] = [];
      const norms = await spectralNorms(c.spec, modelWeights(loaded.model, loaded.dir), { model: loaded, ep: 'cpu', onLog: (l) => lines.push(l), onProgress: (done, total) => seen.push(`${done}/${total}`) });
      expectClose(norms, await hostNorms(loaded, c.spec));
      expect(seen).toEqual(Array.from({ length: 12 }, (_, i) => `${i + 1}/12`));
      expect(lines.filter((l) => l.startsWith('spectral norms: session'))[0]).toMatch(/^spectral norms: session 1\/1, layers 0-3: 12 matrices/);
    });
  }

  it('fp16 weights stay fp16 in the graph (a Cast per matrix), referenced, not copied', async () => {
    const c = await tinyCase(tmp.dir, 'graph-f16', SHAPE, 'float16');
    const loaded = await loadModel(c.onnxPath);
    const [group] = gramGroups(ffnMatrices(loaded.model, c.spec));
    const g = gramGroupGraph(group!).graph!;
    const byName = new Map(loaded.model.graph!.initializer!.map((t) => [t.name, t]));
    for (const t of g.initializer!.filter((t) => t.dataType !== DataType.INT64)) {
      expect(t.dataType).toBe(DataType.FLOAT16);
      expect(t).toBe(byName.get(t.name));
    }
    expect(g.node!.filter((n) => n.opType === 'Cast').length).toBe(12);
  });

  it('several sessions (a budget of about one layer) give the same norms as one session', async () => {
    const c = await tinyCase(tmp.dir, 'groups', SHAPE, 'float16');
    const loaded = await loadModel(c.onnxPath);
    const perLayer = gramGroups(ffnMatrices(loaded.model, c.spec).slice(0, 1))[0]!.totalBytes;
    const lines: string[] = [];
    const split = await lockstep(loaded, c.spec, perLayer + 1, lines);
    expect(lines[0]).toMatch(/^spectral norms: 4 sessions of layers/);
    expect(lines.filter((l) => /^spectral norms: session \d\/4, layers (\d)-\1: 3 matrices/.test(l)).length).toBe(4);
    const whole = await lockstep(loaded, c.spec);
    // each matrix's recurrence and products are the same whichever session holds it
    expect(split).toEqual(whole);
  });

  it('a budget below one layer splits the layer into sessions of its matrices (same norms); below one matrix it is refused before any session', async () => {
    const c = await tinyCase(tmp.dir, 'small-budget', SHAPE, 'float16');
    const loaded = await loadModel(c.onnxPath);
    const layers = ffnMatrices(loaded.model, c.spec);
    const oneMatrix = Math.max(...layers[0]!.map((m) => gramGroups([[m]], Infinity)[0]!.totalBytes));
    const lines: string[] = [];
    const split = await lockstep(loaded, c.spec, oneMatrix, lines);
    expect(lines.filter((l) => /^spectral norms: session \d+\/12, layer \d (down|gate|up): 1 matrix,/.test(l)).length).toBe(12);
    expect(split).toEqual(await lockstep(loaded, c.spec));
    await expect(lockstep(loaded, c.spec, 1000)).rejects.toThrow(/--max-device-memory 1\.0 kB is below what the spectral norm of layer 0 down alone needs: about [\d.]+ kB .*Give at least/);
  });

  it('onnxruntime-genai export (weights in external data): references the data file by offset; norms within 2e-6 of the host reference', async () => {
    const loaded = await loadModel(fixtures.genai);
    const spec = recogniseModel(loaded.model);
    const [group] = gramGroups(ffnMatrices(loaded.model, spec));
    const weights = gramGroupGraph(group!).graph!.initializer!.filter((t) => t.dataType !== DataType.INT64);
    expect(weights.length).toBeGreaterThan(0);
    expect(weights.every((t) => isExternal(t))).toBe(true);
    expectClose(await lockstep(loaded, spec), await hostNorms(loaded, spec));
  });
});

describe('fused and transposed weights', () => {
  it('a column range (fused projections) and an [out, in] layout: the Slice on the right axis, norms within 2e-6 of the host reference on the same refs', async () => {
    const c = await tinyCase(tmp.dir, 'columns', SHAPE, 'float16');
    const loaded = await loadModel(c.onnxPath);
    // gate/up/down are stored [in, out]; read down as if [out, in] (outAxis 0): a different matrix slice, the same rule on both sides
    const spec: ModelSpec = {
      ...c.spec,
      layers: c.spec.layers.map((l) => ({
        ...l,
        gate: { ...l.gate, columns: { start: 8, end: 40 } },
        up: { ...l.up, columns: { start: 0, end: 20 } },
        down: { ...l.down, outAxis: 0, columns: { start: 2, end: 45 } },
      })),
    };
    const [group] = gramGroups(ffnMatrices(loaded.model, spec));
    expect(gramGroupGraph(group!).graph!.node!.filter((n) => n.opType === 'Slice').length).toBe(12);
    expectClose(await lockstep(loaded, spec), await hostNorms(loaded, spec));
  });
});
