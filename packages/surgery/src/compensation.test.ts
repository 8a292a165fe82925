import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { bytesToFloat32, loadModel, readTensorBytes } from '@llm-bip/onnx-io';
import { loadHfWeightsFloat64, type CompensationStats } from '@llm-bip/model';
import { tempDir } from '@llm-bip/testing';
import { compensationBias, pruneModel } from './index.js';
import { GQA, ids, maxAbsDiff, randomPlan, removed, rng, tinyCase, type TinyCase, logitsOf } from './surgery.testutil.js';

const tmp = tempDir('llm-bip-surgery-comp-');
afterAll(() => tmp.cleanup());

describe('compensationBias', () => {
  it('is W[:, removed] · mean[removed] for [in, out] and [out, in] weights', () => {
    // W as HF [out=2, in=3]; ONNX MatMul stores its transpose [3, 2]
    const hf = [
      [1, 2, 3],
      [4, 5, 6],
    ];
    const mean = [10, 100, 1000];
    const inOut = Float32Array.from([1, 4, 2, 5, 3, 6]);
    const outIn = Float32Array.from(hf.flat());
    // removed inputs 0 and 2: b = [1*10 + 3*1000, 4*10 + 6*1000]
    expect(Array.from(compensationBias(inOut, [3, 2], 1, [0, 2], mean))).toEqual([3010, 6040]);
    expect(Array.from(compensationBias(outIn, [2, 3], 0, [0, 2], mean))).toEqual([3010, 6040]);
  });
});

function statsFor(c: TinyCase, seed: number): CompensationStats {
  const next = rng(seed);
  return {
    layers: c.spec.layers.map((l) => ({
      layer: l.index,
      oProjInputMean: Array.from({ length: l.numHeads * l.headDim }, () => next() - 0.5),
      downProjInputMean: Array.from({ length: l.intermediateSize }, () => next() - 0.5),
    })),
  };
}

describe.each([['float32', 1e-6], ['float16', 2e-3]] as const)('compensation, %s', (dtype, tol) => {
  let c: TinyCase;
  beforeAll(async () => {
    c = await tinyCase(join(tmp.dir, dtype), GQA, dtype, false);
  });

  it('adds biases equal to the float64 formula on the HF weights, also for removed blocks', async () => {
    const plan = randomPlan(c.spec, 21, { zeroHeads: [2], zeroChannels: [0] });
    const stats = statsFor(c, 4);
    const r = await pruneModel({ model: c.loaded, spec: c.spec, plan, outPath: join(tmp.dir, dtype, 'comp'), compensation: stats });
    const out = await loadModel(r.modelPath);
    const { weights } = await loadHfWeightsFloat64(c.hfDir);
    const inits = out.model.graph!.initializer!;
    const H = c.spec.hiddenSize;
    let checked = 0;
    for (const l of c.spec.layers) {
      const rm = removed(c.spec, plan, l.index);
      const blocks = [
        { hf: `model.layers.${l.index}.self_attn.o_proj.weight`, rows: rm.heads.flatMap((h) => Array.from({ length: l.headDim }, (_, i) => h * l.headDim + i)), mean: stats.layers[l.index]!.oProjInputMean, width: l.numHeads * l.headDim, tags: [l.o.weight, String(l.attnOutput)] },
        { hf: `model.layers.${l.index}.mlp.down_proj.weight`, rows: rm.channels, mean: stats.layers[l.index]!.downProjInputMean, width: l.intermediateSize, tags: [l.down.weight, String(l.ffnOutput)] },
      ];
      for (const b of blocks) {
        const w = weights.get(b.hf)!; // [H, width]
        const expected = Array.from({ length: H }, (_, j) => b.rows.reduce((s, i) => s + w[j * b.width + i]! * b.mean[i]!, 0));
        const t = inits.find((x) => x.name!.includes('llm_bip_compensation') && b.tags.some((tag) => x.name!.startsWith(`${tag}/`)));
        expect(t, `bias for ${b.hf}`).toBeDefined();
        const got = bytesToFloat32(await readTensorBytes(t!, out.dir), t!.dataType!, t!.name!);
        const scale = Math.max(...expected.map(Math.abs));
        expect(scale).toBeGreaterThan(0.01);
        for (let j = 0; j < H; j++) expect(Math.abs(got[j]! - expected[j]!)).toBeLessThan(tol * scale + 1e-7);
        checked++;
      }
    }
    expect(checked).toBe(2 * c.spec.numLayers);
    expect(r.record.compensation).toBe(true);
    expect(r.record.parameters.after.perLayer.every((p) => p.bias === 2 * H)).toBe(true);

    // the compensated model runs, and zero means give back the uncompensated model exactly
    const zero: CompensationStats = { layers: stats.layers.map((s) => ({ ...s, oProjInputMean: s.oProjInputMean.map(() => 0), downProjInputMean: s.downProjInputMean.map(() => 0) })) };
    const r0 = await pruneModel({ model: c.loaded, spec: c.spec, plan, outPath: join(tmp.dir, dtype, 'zero-means'), compensation: zero });
    const plain = await pruneModel({ model: c.loaded, spec: c.spec, plan, outPath: join(tmp.dir, dtype, 'plain') });
    const tokens = ids(1, 6, GQA.vocabSize);
    const run = (p: string) => logitsOf(p, tokens);
    const [withComp, zeroComp, none] = await Promise.all([run(r.modelPath), run(r0.modelPath), run(plain.modelPath)]);
    expect(maxAbsDiff(zeroComp, none)).toBe(0);
    expect(maxAbsDiff(withComp, none)).toBeGreaterThan(1e-3);
  });

  it('refuses statistics of the wrong width', async () => {
    const plan = randomPlan(c.spec, 22);
    const stats = statsFor(c, 5);
    stats.layers[1]!.downProjInputMean.pop();
    await expect(pruneModel({ model: c.loaded, spec: c.spec, plan, outPath: join(tmp.dir, dtype, 'bad'), compensation: stats })).rejects.toThrow(/downProjInputMean has 79 values, the projection has 80 inputs/);
  });
});
