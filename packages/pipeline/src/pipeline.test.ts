import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTinyLlama, tempDir } from '@llm-bip/testing';
import { planCuts, validatePlan } from '@llm-bip/model';
import { channelParams, getCriterion, headGroupParams, loadScores, registerCriterion, sampleCalibration, saveScores, tapValues, type CalibrationSet, type Criterion } from '@llm-bip/scoring';
import { DEFAULTS, loadModelInput, planFromScores, planFromScoresFile, pruneLlm, rescore, scoreModel, scoresFile, type ModelInput, type PruneLlmHooks, type PruneLlmRequest } from './index.js';

const tmp = tempDir('pipeline-');
afterAll(tmp.cleanup);

/** A criterion with no defaultAllocation and no options (as a user's plug-in may be). */
const activationNorm: Criterion = {
  name: 'pipeline-test-activation-norm',
  description: 'mean |s_k| per channel; heads not scored',
  taps: (spec) => spec.layers.map((l) => ({ layer: l.index, tensor: 'ffnAct', reduction: 'sumAbs' })),
  async score(stats, _weights, spec) {
    const mean = (l: number, t: 'ffnAct', r: 'sumAbs') => tapValues(stats, { layer: l, tensor: t, reduction: r }, 'x').map((v) => v / stats.tokens);
    return { criterion: this.name, headGranularity: 'head', layers: spec.layers.map((l) => ({ layer: l.index, channels: mean(l.index, 'ffnAct', 'sumAbs'), heads: null })) };
  },
};

const encode = (t: string) => Array.from(t, (ch) => ch.charCodeAt(0) % 64);

describe('score -> scores.json -> plans at several ratios', () => {
  let m: ModelInput;
  let calib: CalibrationSet;
  beforeAll(async () => {
    const t = await buildTinyLlama({ seed: 31, hiddenSize: 32, numLayers: 3, numHeads: 4, numKvHeads: 2, intermediateSize: 40, vocabSize: 64 }, { dir: join(tmp.dir, 'gqa'), dtype: 'float32', kvCache: false });
    m = await loadModelInput(t.onnxPath);
    const texts = Array.from({ length: 10 }, (_, i) => `document ${i}: ` + 'lorem ipsum dolor sit amet '.repeat(3 + i));
    calib = await sampleCalibration({ texts, encode, samples: 6, seqLen: 16, seed: 4 });
  });

  it('saves statistics and scores; plans at other ratios need no recalibration', async () => {
    const file = scoresFile(m.spec, 'sha256:test', await scoreModel(m, { criterion: 'llm-bip', calibration: calib, ep: 'cpu', batchSize: 4 }), calib);
    const path = join(tmp.dir, 'scores.json');
    await saveScores(file, path);
    const loaded = await loadScores(path);
    expect(loaded).toEqual(file);
    expect(loaded.statistics.tokens).toBe(96);
    for (const ratio of [0.2, 0.5]) {
      const plan = planFromScoresFile(loaded, { ratio });
      validatePlan(plan, m.spec);
      expect(plan).toMatchObject({ criterion: 'llm-bip', allocation: 'global-kind', ratio, seed: 4, headGranularity: 'kv-group' });
      expect(plan.model.fingerprint).toBe('sha256:test');
      expect(plan.calibration).toEqual({ source: '10 texts', samples: 6, seqLen: 16, seed: 4 });
    }
    // the ablation from the same statistics
    const direct = await rescore(loaded, m, 'llm-bip', { headTerm: 'direct' });
    expect(direct.scores.options).toMatchObject({ headTerm: 'direct' });
    expect(direct.scores.layers[0]!.heads![0]!).toBeLessThan(file.scores.layers[0]!.heads![0]!);
  });

  it('allocation: the criterion\'s own (flap: al-am), else global-kind; magnitude needs no calibration; llm-bip does', async () => {
    const flap = await scoreModel(m, { criterion: 'flap', calibration: calib, ep: 'cpu' });
    const shape = scoresFile(m.spec, '', flap).model;
    expect(planFromScores(flap.scores, shape, { ratio: 0.3 }).allocation).toBe('al-am');
    validatePlan(planFromScores(flap.scores, shape, { ratio: 0.3 }), m.spec);
    const mag = await scoreModel(m, { criterion: 'magnitude' });
    validatePlan(planFromScores(mag.scores, shape, { ratio: 0.3 }), m.spec);
    await expect(scoreModel(m, { criterion: 'llm-bip' })).rejects.toThrow(/--calib FILE/);
    registerCriterion(activationNorm);
    const plug = await scoreModel(m, { criterion: activationNorm.name, calibration: calib, ep: 'cpu' });
    expect(plug.scores.defaultAllocation).toBeUndefined();
    expect(plug.scores.layers[0]!.blockOutputNorm).toBeGreaterThan(0); // filled in from the statistics
    expect(planFromScores(plug.scores, shape, { ratio: 0.3 }).allocation).toBe(DEFAULTS.allocation);
    expect(DEFAULTS.allocation).toBe('global-kind');
  });

  it('criterion options: declared ones only, defaults filled in, random draws from the calibration seed', async () => {
    await expect(scoreModel(m, { criterion: 'flap', options: { headTerm: 'direct' }, calibration: calib, ep: 'cpu' })).rejects.toThrow(/"flap" has no option headTerm: it belongs to "llm-bip"/);
    await expect(scoreModel(m, { criterion: 'llm-bip', options: { headTerm: 'sideways' }, calibration: calib, ep: 'cpu' })).rejects.toThrow(/lipschitz, direct, none/);
    const viaRun = await scoreModel(m, { criterion: 'random', calibration: calib, ep: 'cpu' });
    expect(viaRun.scores.options).toEqual({ seed: 4 });
    const direct = await getCriterion('random').score(viaRun.statistics, undefined as never, m.spec, { seed: 4 });
    expect(viaRun.scores.layers.map((l) => l.channels)).toEqual(direct.layers.map((l) => l.channels));
    const other = await scoreModel(m, { criterion: 'random', options: { seed: 5 }, calibration: calib, ep: 'cpu' });
    expect(other.scores.layers[0]!.channels).not.toEqual(viaRun.scores.layers[0]!.channels);
  });
});

describe('pruneLlm: the whole run as a function', () => {
  it('scores, plans and prunes (compensation on by default); the plan is the one planFromScores makes of its scores', async () => {
    const t = await buildTinyLlama({ seed: 5, hiddenSize: 32, numLayers: 2, numHeads: 4, numKvHeads: 4, intermediateSize: 40, vocabSize: 64 }, { dir: join(tmp.dir, 'e2e'), dtype: 'float32', kvCache: false });
    const m = await loadModelInput(t.onnxPath);
    const calibFile = join(tmp.dir, 'calib.txt');
    writeFileSync(calibFile, 'the quick brown fox jumps over the lazy dog; '.repeat(40));
    let planSeen: unknown;
    const out = join(tmp.dir, 'e2e-out.onnx');
    const r = await pruneLlm(
      { ...m, tokenizer: { encode } as never, fingerprint: 'sha256:e2e' },
      { ratio: 0.25, calibration: { calib: calibFile, samples: 4, seqLen: 16 }, outPath: out, ep: 'cpu' },
      { onPlan: (p) => void (planSeen = p) },
    );
    expect(planSeen).toBe(r.plan);
    validatePlan(r.plan, m.spec);
    expect(r.plan).toMatchObject({ criterion: 'llm-bip', allocation: 'global-kind', seed: 0, calibration: { samples: 4, seqLen: 16, seed: 0 } });
    const again = planFromScores(r.scores, r.plan.model, { ratio: 0.25, calibration: r.plan.calibration! });
    expect(again.layers).toEqual(r.plan.layers);
    expect(r.pruned.record.compensation).toBeTruthy();
    expect(existsSync(out)).toBe(true);
    expect(r.eval).toBeUndefined();
    const noComp = await pruneLlm({ ...m, tokenizer: { encode } as never, fingerprint: 'sha256:e2e' }, { ratio: 0.25, compensate: false, calibration: { calib: calibFile, samples: 4, seqLen: 16 }, outPath: join(tmp.dir, 'nocomp.onnx'), ep: 'cpu' });
    expect(noComp.pruned.record.compensation).toBeFalsy();
    expect(noComp.plan.layers).toEqual(r.plan.layers);
    expect(readFileSync(out).equals(readFileSync(join(tmp.dir, 'nocomp.onnx')))).toBe(false);
    rmSync(out);
  });

  describe('steps: the ratio in rounds, each pruning the previous round\'s model', () => {
    let m: ModelInput;
    let calibFile: string;
    const run = (ratio: number, extra: Partial<PruneLlmRequest>, outPath: string, hooks: PruneLlmHooks = {}) =>
      pruneLlm({ ...m, tokenizer: { encode } as never, fingerprint: 'sha256:steps' }, { ratio, calibration: { calib: calibFile, samples: 4, seqLen: 16 }, outPath, ep: 'cpu', ...extra }, hooks);
    const roundFolders = (dir: string) => readdirSync(dir).filter((f) => f.startsWith('.llm-bip-rounds-'));
    beforeAll(async () => {
      const t = await buildTinyLlama({ seed: 7, hiddenSize: 32, numLayers: 2, numHeads: 4, numKvHeads: 4, intermediateSize: 40, vocabSize: 64 }, { dir: join(tmp.dir, 'steps-model'), dtype: 'float32', kvCache: false });
      m = await loadModelInput(t.onnxPath);
      calibFile = join(tmp.dir, 'steps-calib.txt');
      writeFileSync(calibFile, 'pack my box with five dozen liquor jugs; '.repeat(40));
    });

    it('two rounds to 40 %: the composite plan is against the original model, the written model has its widths, no round folder is left', async () => {
      const dir = join(tmp.dir, 'steps-2');
      const lines: string[] = [];
      let planSeen: unknown;
      const r = await run(0.4, { steps: 2 }, join(dir, 'model.onnx'), { log: (l) => lines.push(l), onPlan: (p) => void (planSeen = p) });
      expect(planSeen).toBe(r.plan);
      validatePlan(r.plan, m.spec);
      expect(r.plan.model.fingerprint).toBe('sha256:steps');
      expect(r.plan.ratio).toBe(0.4);
      const written = await loadModelInput(r.pruned.modelPath);
      expect(written.spec.layers.map((l) => [l.numHeads, l.numKvHeads, l.intermediateSize])).toEqual(r.plan.layers.map((l) => [l.keepHeads.length, l.keepKvHeads.length, l.keepChannels.length]));
      const notes = r.plan.notes as { achievedRatio: number; rounds: Array<{ ratio: number; cumulative: number; achievedRatio: number }> };
      expect(notes.rounds.map((x) => x.cumulative)).toEqual([0.2, 0.4]);
      expect(notes.rounds[0]!.ratio).toBeCloseTo(0.2, 12);
      // round 2 asks for what is left to reach 40 % of the original, of a model that lost the achieved round-1 fraction
      const a1 = notes.rounds[0]!.achievedRatio;
      expect(notes.rounds[1]!.ratio).toBeCloseTo((0.4 - a1) / (1 - a1), 12);
      expect(notes.achievedRatio).toBe(notes.rounds[1]!.achievedRatio);
      expect(notes.achievedRatio).toBeCloseTo(planCuts(r.plan).parameters.fraction, 12);
      const group = Math.max(headGroupParams(r.plan.model, 0), channelParams(r.plan.model, 0)) / planCuts(r.plan).parameters.of;
      expect(Math.abs(notes.achievedRatio - 0.4)).toBeLessThanOrEqual(group);
      // the record covers the whole run: the original's parameters before, the last model's after
      expect(r.pruned.record.parameters.removedFraction).toBeCloseTo(notes.achievedRatio, 9);
      expect(r.pruned.record.layers.map((l) => l.channels)).toEqual(r.plan.layers.map((l) => [40, l.keepChannels.length]));
      expect(JSON.parse(readFileSync(r.pruned.recordPath, 'utf8')).parameters.removedFraction).toBe(r.pruned.record.parameters.removedFraction);
      // and so do the written model's own llm_bip.pruning.* metadata (not the last round's view of its input)
      const meta = new Map(written.loaded.model.metadataProps?.map((e) => [e.key, e.value]));
      expect(meta.get('llm_bip.pruning.removed_fraction')).toBe(notes.achievedRatio.toFixed(6));
      expect(meta.get('llm_bip.pruning.parameters_before')).toBe(String(r.pruned.record.parameters.before.total));
      expect(meta.get('llm_bip.pruning.source_fingerprint')).toBe(r.pruned.record.input.fingerprint);
      expect(meta.get('llm_bip.pruning.ratio')).toBe('0.4');
      expect(JSON.parse(meta.get('llm_bip.pruning.layers')!)).toEqual(r.pruned.record.layers.map((l) => ({ layer: l.layer, heads: l.heads[1], kvHeads: l.kvHeads[1], channels: l.channels[1] })));
      expect(r.rounds!.map((x) => x.plan.model.numLayers)).toEqual([2, 2]);
      expect(r.rounds![1]!.plan.model.intermediateSize).toEqual(r.rounds![0]!.plan.layers.map((l) => l.keepChannels.length));
      expect(lines.filter((l) => l.startsWith('round '))).toEqual([
        'round 1/2: 20.0 % of the current model (20.0 % of the original)',
        `round 2/2: ${(notes.rounds[1]!.ratio * 100).toFixed(1)} % of the current model (40.0 % of the original)`,
      ]);
      expect(roundFolders(dir)).toEqual([]);
    });

    it('selectCriterion: another criterion chooses inside the sequential pass\'s blocks; refused without it or by an unknown name', async () => {
      const dir = join(tmp.dir, 'select');
      const seq = await run(0.4, { sequential: true }, join(dir, 'seq.onnx'));
      const byRandom = await run(0.4, { sequential: true, selectCriterion: 'random' }, join(dir, 'random.onnx'));
      // the allocation stays llm-bip's one-shot plan: the same counts per layer, other groups kept
      const counts = (p: typeof seq.plan) => p.layers.map((l) => [l.keepKvHeads.length, l.keepChannels.length]);
      expect(counts(byRandom.plan)).toEqual(counts(seq.plan));
      expect(byRandom.plan.layers.map((l) => l.keepChannels)).not.toEqual(seq.plan.layers.map((l) => l.keepChannels));
      expect(byRandom.plan.criterion).toBe('llm-bip');
      expect(byRandom.plan.notes).toMatchObject({ sequential: { selectCriterion: 'random' } });
      expect(seq.plan.notes).not.toMatchObject({ sequential: { selectCriterion: expect.anything() } });
      await expect(run(0.4, { selectCriterion: 'random' }, join(dir, 'bad.onnx'))).rejects.toThrow(/selectCriterion \(random\) chooses inside each block of the sequential pass/);
      await expect(run(0.4, { sequential: true, selectCriterion: 'no-such' }, join(dir, 'bad.onnx'))).rejects.toThrow(/unknown criterion "no-such"/);
      expect(existsSync(join(dir, 'bad.onnx'))).toBe(false);
    });

    it('a round\'s model that cannot be read back is refused with the fix, and no round folder is left', async () => {
      const dir = join(tmp.dir, 'steps-unreadable');
      let surgeries = 0;
      // the first surgery's model, spoilt once it is written (before round 2 loads it)
      const spoil = () => {
        const rounds = roundFolders(dir);
        for (const r of rounds) writeFileSync(join(dir, r, 'round-1', 'model.onnx'), 'not an ONNX model');
      };
      const progress = ({ label }: { label: string }) => ({ update: () => {}, finish: () => void (label === 'surgery' && ++surgeries === 1 && spoil()) });
      await expect(run(0.4, { steps: 2 }, join(dir, 'model.onnx'), { progress })).rejects.toThrow(/the model pruned in round 1 cannot be loaded again for the next round \(.+\): prune this model in one round/);
      expect(surgeries).toBe(1);
      expect(roundFolders(dir)).toEqual([]);
      expect(existsSync(join(dir, 'model.onnx'))).toBe(false);
    });

    it('steps 1 is the one-round run; steps 0, 1.5 are refused; an abort in round 2 leaves no round folder', async () => {
      const dir = join(tmp.dir, 'steps-1');
      const plain = await run(0.4, {}, join(dir, 'plain.onnx'));
      const one = await run(0.4, { steps: 1 }, join(dir, 'one.onnx'));
      expect(one.plan.layers).toEqual(plain.plan.layers);
      expect(one.rounds).toBeUndefined();
      expect(plain.plan.notes).not.toHaveProperty('rounds');
      for (const steps of [0, 1.5, Number.NaN]) await expect(run(0.4, { steps }, join(dir, 'bad.onnx'))).rejects.toThrow(/steps must be a whole number >= 1/);
      const abort = new AbortController();
      const aborted = join(tmp.dir, 'steps-abort');
      await expect(run(0.4, { steps: 2 }, join(aborted, 'model.onnx'), { signal: abort.signal, log: (l) => void (l.startsWith('round 2/2') && abort.abort()) })).rejects.toThrow(/aborted/);
      expect(roundFolders(aborted)).toEqual([]);
      expect(existsSync(join(aborted, 'model.onnx'))).toBe(false);
    });
  });
});
