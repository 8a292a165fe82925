import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataType, bytesToFloat32, float16ToFloat32, loadModel, readTensorBytes } from '@llm-bip/onnx-io';
import { tempDir } from '@llm-bip/testing';
import { pruneModel, refitBytes } from '../prune.js';
import { removedProjectionInputs } from '../edits.js';
import { GQA, randomPlan, rng, tinyCase, type TinyCase } from '../surgery.testutil.js';
import { ReconstructionStore } from './store.js';
import type { ProjectionFit } from './solve.js';

const tmp = tempDir('llm-bip-surgery-recon-');
afterAll(() => tmp.cleanup());

function randomFit(keep: number[], m: number, seed: number, alpha = 0.01): ProjectionFit {
  const next = rng(seed);
  return { keep, weight: Float64Array.from({ length: keep.length * m }, () => next() - 0.5), bias: Float64Array.from({ length: m }, () => next() - 0.5), alpha, lambda: alpha };
}

describe('ReconstructionStore', () => {
  it('gives back what was added, from memory or from its scratch file, which dispose removes', () => {
    for (const spill of [false, true]) {
      const store = new ReconstructionStore({ ...(spill ? { spillDir: tmp.dir } : {}), summary: { method: 'least-squares' } });
      const a = randomFit([0, 2, 5], 4, 1);
      const b = randomFit([1], 4, 2, Infinity);
      store.add(3, 'ffn', a, { heldOutError: { '0.01': 1.5 } });
      store.add(3, 'attention', b);
      expect(Array.from(store.projection(3, 'ffn')!.weight())).toEqual(Array.from(Float32Array.from(a.weight)));
      expect(Array.from(store.projection(3, 'attention')!.weight())).toEqual(Array.from(Float32Array.from(b.weight)));
      expect(store.projection(3, 'ffn')!.bias).toBe(a.bias);
      expect(store.projection(2, 'ffn')).toBeUndefined();
      expect(store.summary()).toEqual({
        method: 'least-squares',
        projections: [
          { layer: 3, block: 'attention', kept: 1, alpha: 'mean' },
          { layer: 3, block: 'ffn', kept: 3, alpha: 0.01, heldOutError: { '0.01': 1.5 } },
        ],
      });
      const scratch = readdirSync(tmp.dir).filter((f) => f.startsWith('.llm-bip-reconstruction-'));
      expect(scratch.length).toBe(spill ? 1 : 0);
      store.dispose();
      expect(readdirSync(tmp.dir).filter((f) => f.startsWith('.llm-bip-reconstruction-'))).toEqual([]);
    }
  });

  it('refit bytes follow the storage layout: [in, out] as is, [out, in] transposed', () => {
    const fit = randomFit([0, 3], 3, 5);
    const store = new ReconstructionStore();
    store.add(0, 'ffn', fit);
    const p = store.projection(0, 'ffn')!;
    const inOut = refitBytes(p, { name: 'w', dataType: DataType.FLOAT, dims: [4, 3] }, { tensor: 'w', axis: 0, keep: [0, 3], size: 4 });
    expect(inOut.dims).toEqual([2, 3]);
    expect(Array.from(bytesToFloat32(inOut.bytes, DataType.FLOAT))).toEqual(Array.from(Float32Array.from(fit.weight)));
    const outIn = refitBytes(p, { name: 'w', dataType: DataType.FLOAT, dims: [3, 4] }, { tensor: 'w', axis: 1, keep: [0, 3], size: 4 });
    expect(outIn.dims).toEqual([3, 2]);
    const t = bytesToFloat32(outIn.bytes, DataType.FLOAT);
    for (let a = 0; a < 2; a++) for (let o = 0; o < 3; o++) expect(t[o * 2 + a]).toBe(Math.fround(fit.weight[a * 3 + o]!));
  });
});

describe('pruneModel with a reconstruction (fp16 weights, spilled store)', () => {
  let c: TinyCase;
  beforeAll(async () => {
    c = await tinyCase(join(tmp.dir, 'fp16'), GQA, 'float16', false);
  });

  it('writes each refit weight (in fp16) instead of the slice and adds its bias; refuses compensation too', async () => {
    const plan = randomPlan(c.spec, 31);
    const store = new ReconstructionStore({ spillDir: tmp.dir, summary: { method: 'least-squares', lambda: 'auto' } });
    const cut = removedProjectionInputs(c.spec, plan);
    cut.forEach((r, i) => store.add(r.layer, r.block, randomFit(r.keep, c.spec.hiddenSize, 100 + i)));
    const r = await pruneModel({ model: c.loaded, spec: c.spec, plan, outPath: join(tmp.dir, 'fp16', 'out'), reconstruction: store });
    expect(r.record.reconstruction).toMatchObject({ method: 'least-squares', lambda: 'auto' });
    const out = await loadModel(r.modelPath);
    const meta = out.model.metadataProps!.find((e) => e.key === 'llm_bip.pruning.reconstruction');
    expect(JSON.parse(meta!.value!)).toEqual({ method: 'least-squares', lambda: 'auto' });
    const inits = out.model.graph!.initializer!;
    for (const x of cut) {
      const p = store.projection(x.layer, x.block)!;
      const w = inits.find((t) => t.name === x.linear.weight)!;
      expect(w.dataType).toBe(DataType.FLOAT16);
      const got = float16ToFloat32(new Uint16Array(Uint8Array.from(await readTensorBytes(w, out.dir)).buffer));
      const want = p.weight();
      expect(got.length).toBe(want.length);
      for (let i = 0; i < want.length; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThan(1e-3);
      const tags = [x.linear.weight, String(x.block === 'attention' ? c.spec.layers[x.layer]!.attnOutput : c.spec.layers[x.layer]!.ffnOutput)];
      const bias = inits.find((t) => t.name!.includes('llm_bip_compensation') && tags.some((tag) => t.name!.startsWith(`${tag}/`)))!;
      const b = bytesToFloat32(await readTensorBytes(bias, out.dir), bias.dataType!, bias.name!);
      for (let o = 0; o < b.length; o++) expect(Math.abs(b[o]! - p.bias[o]!)).toBeLessThan(1e-3);
    }
    store.dispose();
    expect(existsSync(r.modelPath)).toBe(true);
    await expect(pruneModel({ model: c.loaded, spec: c.spec, plan, outPath: join(tmp.dir, 'fp16', 'both'), reconstruction: store, compensation: { layers: [] } })).rejects.toThrow(/not both/);
  });
});
