/**
 * `llm-bip plan --explain`: what it prints must be what surgery then does. The explanation of a plan
 * is checked against the pruned model's initializer shapes and the pruning record's parameter counts.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildTinyLlama, tempDir } from '@llm-bip/testing';
import { loadModel, tensorDims } from '@llm-bip/onnx-io';
import { recogniseModel, type PlanCuts, type PruningPlan } from '@llm-bip/model';
import { saveScores } from '@llm-bip/scoring';
import { loadModelInput, scoreModel, scoresFile } from '@llm-bip/pipeline';
import { pruneModel } from '@llm-bip/surgery';
import { cli } from '../../capture.testutil.js';
import { ExitCode } from '../../errors.js';

const tmp = tempDir('llm-bip-plan-explain-');
afterAll(() => tmp.cleanup());

describe('plan --explain', () => {
  it('prints per layer the groups, tensor slices and parameters that go, as surgery then cuts them', async () => {
    const t = await buildTinyLlama({ seed: 5, hiddenSize: 32, numLayers: 3, numHeads: 4, numKvHeads: 2, intermediateSize: 40, vocabSize: 64 }, { dir: join(tmp.dir, 'm'), dtype: 'float32', kvCache: false });
    const scores = join(tmp.dir, 'scores.json');
    const input = await loadModelInput(t.onnxPath);
    await saveScores(scoresFile(input.spec, '', await scoreModel(input, { criterion: 'magnitude' })), scores);
    const planPath = join(tmp.dir, 'plan.json');

    const r = await cli(['plan', scores, '--ratio', '0.4', '--allocation', 'uniform', '--explain', '--model', t.onnxPath, '-o', planPath, '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(ExitCode.ok);
    const cuts = (JSON.parse(r.stdout) as { result: { explanation: PlanCuts } }).result.explanation;
    const plan = JSON.parse(readFileSync(planPath, 'utf8')) as PruningPlan;
    expect(cuts.parameters.fraction).toBeCloseTo(plan.notes!.achievedRatio as number, 12);

    const loaded = await loadModel(t.onnxPath);
    const spec = recogniseModel(loaded.model);
    const pruned = await pruneModel({ model: loaded, spec, plan, outPath: join(tmp.dir, 'pruned', 'model.onnx') });
    const before = new Map(loaded.model.graph!.initializer!.map((x) => [x.name!, tensorDims(x)]));
    const after = new Map((await loadModel(pruned.modelPath)).model.graph!.initializer!.map((x) => [x.name!, tensorDims(x)]));
    let sliced = 0;
    for (const c of cuts.layers) {
      const lp = plan.layers[c.layer]!;
      expect(c.removedKvHeads.length).toBe(2 - lp.keepKvHeads.length);
      expect(c.removedChannels.length).toBe(40 - lp.keepChannels.length);
      for (const cut of c.tensors) {
        // the pruned weight lost exactly the indices the explanation lists
        expect(after.get(cut.tensor)![cut.axis], cut.tensor).toBe(before.get(cut.tensor)![cut.axis]! - cut.removed);
        sliced++;
      }
      const rec = pruned.record.parameters;
      expect(c.parameters.attention).toBe(rec.before.perLayer[c.layer]!.attention - rec.after.perLayer[c.layer]!.attention);
      expect(c.parameters.mlp).toBe(rec.before.perLayer[c.layer]!.mlp - rec.after.perLayer[c.layer]!.mlp);
    }
    expect(sliced).toBe(3 * 7); // q, k, v, o, gate, up, down of every layer
    expect(cuts.parameters.fraction).toBeCloseTo(pruned.record.parameters.removedFraction, 12);

    // the text form names the same tensors, counts and total
    const text = await cli(['plan', scores, '--ratio', '0.4', '--allocation', 'uniform', '--explain']);
    expect(text.code).toBe(ExitCode.ok);
    expect(text.stdout).toContain('plan (not written: no -o)');
    const c0 = cuts.layers[0]!;
    expect(text.stdout).toContain(`layer 0: heads [${c0.removedHeads.join(', ')}] of 4 (KV groups [${c0.removedKvHeads.join(', ')}] of 2); ${c0.removedChannels.length} of 40 channels`);
    const q = c0.tensors.find((x) => x.tensor.endsWith('q_proj.weight'))!;
    expect(text.stdout).toContain(`  model.layers.0.self_attn.q_proj.weight  axis 1: ${q.removed} of 32 indices`);
    expect(text.stdout).toContain(`total: ${cuts.parameters.removed.toLocaleString('en-US')} of ${cuts.parameters.of.toLocaleString('en-US')} attention+MLP parameters removed`);
  }, 60_000);

  it('without --explain a plan still needs -o, and --model is refused', async () => {
    const r = await cli(['plan', 'scores.json', '--ratio', '0.2', '--model', 'm.onnx', '-o', 'p.json']);
    expect(r.code).toBe(ExitCode.usage);
    expect(r.stderr).toContain('--model is for --explain');
  });

  it('--align N: every layer keeps a multiple of N channels, recorded in the plan and in --json', async () => {
    const t = await buildTinyLlama({ seed: 6, hiddenSize: 32, numLayers: 3, numHeads: 4, numKvHeads: 2, intermediateSize: 40, vocabSize: 64 }, { dir: join(tmp.dir, 'a'), dtype: 'float32', kvCache: false });
    const scores = join(tmp.dir, 'scores-align.json');
    const input = await loadModelInput(t.onnxPath);
    await saveScores(scoresFile(input.spec, '', await scoreModel(input, { criterion: 'magnitude' })), scores);
    const planPath = join(tmp.dir, 'plan-align.json');
    const r = await cli(['plan', scores, '--ratio', '0.3', '--align', '8', '-o', planPath, '--json']);
    expect(r.code).toBe(ExitCode.ok);
    const result = (JSON.parse(r.stdout) as { result: { align: number; layers: Array<{ channels: number }> } }).result;
    expect(result.align).toBe(8);
    const plan = JSON.parse(readFileSync(planPath, 'utf8')) as PruningPlan;
    expect(plan.notes!.align).toBe(8);
    for (const l of plan.layers) expect(l.keepChannels.length % 8).toBe(0);
    expect(result.layers.map((l) => l.channels)).toEqual(plan.layers.map((l) => l.keepChannels.length));

    for (const wrong of ['0', '2.5', 'tiles']) {
      const bad = await cli(['plan', scores, '--ratio', '0.3', '--align', wrong, '-o', planPath]);
      expect(bad.code).toBe(ExitCode.usage);
      expect(bad.stderr).toContain('--align must be auto or a whole number');
    }

    // auto, asked for and by default: this model's FFN (40 wide) is below the width auto aligns, so none
    for (const args of [['--align', 'auto'], []]) {
      const a = await cli(['plan', scores, '--ratio', '0.3', ...args, '-o', planPath, '--json']);
      expect(a.code).toBe(ExitCode.ok);
      expect((JSON.parse(a.stdout) as { result: { align: number } }).result.align).toBe(1);
      expect((JSON.parse(readFileSync(planPath, 'utf8')) as PruningPlan).notes!.align).toBeUndefined();
    }
  }, 60_000);
});
