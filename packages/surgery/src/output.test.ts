import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel, tensorDims } from '@llm-bip/onnx-io';
import { countParameters, emptyPlan, PlanMismatchError } from '@llm-bip/model';
import { tempDir } from '@llm-bip/testing';
import { pruneModel, SurgeryError } from './index.js';
import { GQA, MHA, ids, randomPlan, tinyCase, type TinyCase, logitsOf } from './surgery.testutil.js';

const tmp = tempDir('llm-bip-surgery-out-');
afterAll(() => tmp.cleanup());

let c: TinyCase;
beforeAll(async () => {
  c = await tinyCase(join(tmp.dir, 'model'), GQA, 'float32', true);
  // an HF config beside the model, as a real export folder has
  writeFileSync(join(c.loaded.dir, 'config.json'), readFileSync(join(c.hfDir, 'config.json')));
});

describe('provenance', () => {
  it('records parameters, plan and fingerprint in metadata, sidecar and config.json', async () => {
    const plan = { ...randomPlan(c.spec, 31, { zeroChannels: [1] }), calibration: { source: 'c4', samples: 4, seqLen: 16, seed: 9 }, seed: 31 };
    const r = await pruneModel({ model: c.loaded.path, spec: c.spec, plan, outPath: join(tmp.dir, 'prov') });
    const out = await loadModel(r.modelPath);
    const meta = Object.fromEntries(out.model.metadataProps!.map((e) => [e.key, e.value]));
    expect(meta['llm_bip.pruning.criterion']).toBe('random');
    expect(meta['llm_bip.pruning.calibration']).toBe(JSON.stringify(plan.calibration));
    expect(meta['llm_bip.pruning.source_fingerprint']).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(meta['llm_bip.exporter']).toBe('llm-bip'); // the exporter's own keys survive
    const sidecar = JSON.parse(readFileSync(r.recordPath, 'utf8'));
    expect(sidecar.plan.seed).toBe(31);
    expect(sidecar.output.dataPath).toBe(r.dataPath);
    expect(sidecar.plan.madeForThisModel).toBeUndefined(); // the plan carries no fingerprint
    const stamped = { ...plan, model: { ...plan.model, fingerprint: sidecar.input.fingerprint } };
    const again = await pruneModel({ model: c.loaded, spec: c.spec, plan: stamped, outPath: join(tmp.dir, 'prov2') });
    expect(again.record.plan.madeForThisModel).toBe(true);
    expect(sidecar.input.fingerprint).toBe(meta['llm_bip.pruning.source_fingerprint']);

    // parameter counts agree with the weights actually written
    const stored = (names: (n: string) => boolean) =>
      out.model.graph!.initializer!.filter((t) => names(t.name!)).reduce((s, t) => s + tensorDims(t).reduce((a, b) => a * b, 1), 0);
    expect(r.record.parameters.after.total).toBe(stored((n) => n.startsWith('model.') || n.startsWith('lm_head.')));
    expect(r.record.parameters.before.total).toBe(countParameters(c.spec).total);
    const keptAttn = plan.layers.reduce((s, lp) => s + 2 * 64 * 8 * (lp.keepHeads.length + lp.keepKvHeads.length), 0);
    expect(r.record.parameters.after.attention).toBe(keptAttn);
    expect(r.record.layers[1]!.ffnRemoved).toBe(true);
    const { before, after } = r.record.parameters.storedElements;
    expect(after).toBeLessThan(before - 0.5 * (r.record.parameters.before.total - r.record.parameters.after.total));

    const config = JSON.parse(readFileSync(r.configPath!, 'utf8'));
    expect(config.llm_bip_layers.map((l: { num_key_value_heads: number }) => l.num_key_value_heads)).toEqual(plan.layers.map((l) => l.keepKvHeads.length));
    expect(config.llm_bip_layers[1].intermediate_size).toBe(0);
    expect(config.head_dim).toBe(8);
    expect(config.hidden_size).toBe(64);
  });

  it('writes inline when asked, with the same logits as external data', async () => {
    const plan = randomPlan(c.spec, 32);
    const a = await pruneModel({ model: c.loaded, spec: c.spec, plan, outPath: join(tmp.dir, 'ext', 'm.onnx') });
    const b = await pruneModel({ model: c.loaded, spec: c.spec, plan, outPath: join(tmp.dir, 'inline', 'm.onnx'), externalData: false });
    expect(existsSync(a.dataPath!)).toBe(true);
    expect(b.dataPath).toBeUndefined();
    expect(readdirSync(join(tmp.dir, 'inline')).sort()).toEqual(['config.json', 'm.onnx', 'm.onnx.pruning.json']);
    const tokens = ids(1, 5, GQA.vocabSize);
    const run = async (p: string) => Array.from(await logitsOf(p, tokens));
    expect(await run(b.modelPath)).toEqual(await run(a.modelPath));
  });
});

describe('errors and atomicity', () => {
  it('refuses a plan made for another model, writing nothing', async () => {
    const other = await tinyCase(join(tmp.dir, 'other'), MHA, 'float32', false);
    const out = join(tmp.dir, 'mismatch');
    await expect(pruneModel({ model: c.loaded, spec: c.spec, plan: emptyPlan(other.spec), outPath: out })).rejects.toThrow(PlanMismatchError);
    expect(existsSync(out)).toBe(false);
  });

  it('leaves no partial files and keeps an existing output when it fails midway', async () => {
    const out = join(tmp.dir, 'fail');
    mkdirSync(out);
    writeFileSync(join(out, 'model.onnx'), 'old model');
    let calls = 0;
    const onProgress = (p: { phase: string }) => {
      if (p.phase === 'tensors' && ++calls === 5) throw new Error('disk full (simulated)');
    };
    await expect(pruneModel({ model: c.loaded, spec: c.spec, plan: randomPlan(c.spec, 33), outPath: out, onProgress })).rejects.toThrow(/simulated/);
    expect(readdirSync(out)).toEqual(['model.onnx']);
    expect(readFileSync(join(out, 'model.onnx'), 'utf8')).toBe('old model');
  });

  it('refuses to write over the input model', async () => {
    await expect(pruneModel({ model: c.loaded, spec: c.spec, plan: emptyPlan(c.spec), outPath: c.loaded.path })).rejects.toThrow(SurgeryError);
  });

  it('says which constant does not match when the spec is wrong', async () => {
    const spec = structuredClone(c.spec);
    const use = spec.layers[0]!.shapeUses.find((u) => u.role === 'numHeads')!;
    use.role = 'numKvHeads'; // the element holds 8 query heads, the layer has 2 KV heads
    const plan = randomPlan(c.spec, 34);
    const out = join(tmp.dir, 'badspec');
    await expect(pruneModel({ model: c.loaded, spec, plan, outPath: out })).rejects.toThrow(/holds 8, but the layer's numKvHeads is 2: the spec does not match the graph/);
    expect(readdirSync(out)).toEqual([]);
  });
});
