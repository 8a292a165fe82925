import { composePlans, planGroupSource, PLAN_FORMAT, type ModelSpec, type PruningPlan } from '@llm-bip/model';
import type { GroupScores } from '@llm-bip/scoring';
import type { PruningRecord } from '@llm-bip/surgery';
import { describe, expect, it } from 'vitest';
import { renderReport } from '../../report/render.js';
import { summarisePlan } from '../../report/summary.js';
import { summaryText } from './index.js';
import { buildResults, modelName, scoresSection } from './results.js';

const plan: PruningPlan = {
  format: PLAN_FORMAT,
  model: { fingerprint: 'x', numLayers: 2, hiddenSize: 8, numHeads: [4, 4], numKvHeads: [2, 2], headDim: [2, 2], intermediateSize: [4, 4] },
  criterion: 'llm-bip',
  ratio: 0.3,
  allocation: 'global-kind',
  headGranularity: 'kv-group',
  layers: [
    { layer: 0, keepHeads: [0, 1, 2, 3], keepKvHeads: [0, 1], keepChannels: [1, 3] },
    { layer: 1, keepHeads: [2, 3], keepKvHeads: [1], keepChannels: [0, 1, 2, 3] },
  ],
};

const scores: GroupScores = {
  criterion: 'llm-bip',
  headGranularity: 'kv-group',
  layers: [
    { layer: 0, heads: [4, 6], channels: [1, 8, 2, 9], blockOutputNorm: 2 },
    { layer: 1, heads: [3, 5], channels: [4, 4, 4, 4], blockOutputNorm: 4 },
  ],
};

describe('scoresSection', () => {
  it('divides by the block output norm and marks the largest removed score as the cut', () => {
    const s = scoresSection(scores, plan);
    expect(s.unit).toBe('score / block output norm');
    // layer 0 channels 1,8,2,9 / 2 -> 0.5,4,1,4.5; removed 0 and 2 -> threshold max(0.5, 1) = 1
    expect(s.layers[0]!.channels).toMatchObject({ min: 0.5, max: 4.5, threshold: 1, count: 4 });
    // no KV group removed in layer 0: no threshold
    expect(s.layers[0]!.heads!.threshold).toBeUndefined();
    // layer 1: group 0 (score 3/4) removed
    expect(s.layers[1]!.heads).toMatchObject({ min: 0.75, max: 1.25, threshold: 0.75 });
    expect(s.layers[1]!.channels!.threshold).toBeUndefined();
  });

  it('keeps raw scores when a layer has no block output norm; skips kinds a criterion does not score', () => {
    const raw: GroupScores = { ...scores, layers: [{ layer: 0, heads: null, channels: [1, 2, 3, 4] }, { layer: 1, heads: null, channels: [1, 2, 3, 4] }] };
    const s = scoresSection(raw, plan);
    expect(s.unit).toBe('llm-bip score');
    expect(s.layers[0]!.heads).toBeUndefined();
    expect(s.layers[0]!.channels!.max).toBe(4);
  });
});

describe('buildResults with rounds (prune-llm --steps)', () => {
  // round 1 keeps the plan above; round 2, on that model (2 + 1 KV groups, 2 + 4 channels), drops layer 1's channel 2
  const second: PruningPlan = {
    ...plan,
    model: { ...plan.model, numHeads: [4, 2], numKvHeads: [2, 1], intermediateSize: [2, 4] },
    layers: [
      { layer: 0, keepHeads: [0, 1, 2, 3], keepKvHeads: [0, 1], keepChannels: [0, 1] },
      { layer: 1, keepHeads: [0, 1], keepKvHeads: [0], keepChannels: [0, 1, 3] },
    ],
  };
  const composite = { ...composePlans(plan, second), ratio: 0.4 };
  const rounds = [
    { ratio: 0.2, cumulative: 0.2, achievedRatio: 0.21, plan },
    { ratio: 0.24, cumulative: 0.4, achievedRatio: 0.39, plan: second },
  ];
  // the last round's scores are of round 1's model: layer 1 has one KV group and four channels
  const lastScores: GroupScores = {
    criterion: 'llm-bip',
    headGranularity: 'kv-group',
    layers: [
      { layer: 0, heads: [4, 6], channels: [1, 8], blockOutputNorm: 2 },
      { layer: 1, heads: [3], channels: [1, 2, 0.5, 4], blockOutputNorm: 1 },
    ],
  };
  const side = { total: 100, attention: 40, mlp: 40, perLayer: [{ layer: 0, attention: 20, mlp: 20, norms: 0, bias: 0 }, { layer: 1, attention: 20, mlp: 20, norms: 0, bias: 0 }] };
  const record = { compensation: true, parameters: { before: side, after: { ...side, total: 60 } } } as unknown as PruningRecord;
  const spec = { ...planGroupSource(plan.model), numLayers: 2, vocabSize: 16, tiedEmbeddings: false, flavour: 'test' } as unknown as ModelSpec;

  it('records the rounds in the plan summary, marks the cuts of the last round in its own scores, and says so in the text and the report', () => {
    const data = buildResults({ modelPath: 'm/model.onnx', spec, plan: composite, scores: lastScores, record, rounds, version: '0', startedAt: 0, now: () => new Date(1000) });
    expect(data.plan.rounds).toEqual([
      { ratio: 0.2, cumulative: 0.2, achievedRatio: 0.21 },
      { ratio: 0.24, cumulative: 0.4, achievedRatio: 0.39 },
    ]);
    expect(data.plan.layers[1]).toEqual({ layer: 1, heads: { kept: 2, total: 4 }, kvHeads: { kept: 1, total: 2 }, channels: { kept: 3, total: 4 } });
    // layer 1: the last round removed its channel 2 (score 0.5): the cut is there, not at the composite's indices
    expect(data.scores!.layers[1]!.channels).toMatchObject({ count: 4, threshold: 0.5 });
    // the composite plan's original indices would mark a cut where the last round made none
    expect(data.scores!.layers[0]!.channels!.threshold).toBeUndefined();
    expect(data.scores!.layers[1]!.heads!.threshold).toBeUndefined();
    expect(summaryText(data, 'out')).toContain('2 rounds (20.0 -> 40.0 %)');
    expect(renderReport(data)).toContain('removed of the original after each: 21.0 % → 39.0 %');
    expect(buildResults({ modelPath: 'm', spec, plan, scores, record, version: '0', startedAt: 0 }).plan).not.toHaveProperty('rounds');
  });
});

describe('summarisePlan', () => {
  it('says the plan was made sequentially, and by which criterion the blocks chose, only when the notes say so', () => {
    expect(summarisePlan(plan)).not.toHaveProperty('sequential');
    const seq = summarisePlan({ ...plan, notes: { sequential: { allocation: 'a', selection: 's' } } });
    expect(seq).toMatchObject({ sequential: true });
    expect(seq).not.toHaveProperty('selectCriterion');
    expect(summarisePlan({ ...plan, notes: { sequential: { allocation: 'a', selection: 's', selectCriterion: 'wanda-sp' } } })).toMatchObject({ sequential: true, selectCriterion: 'wanda-sp' });
  });
});

describe('modelName', () => {
  it.each([
    ['../shared/testbed/bip-llama-tiny', 'bip-llama-tiny'],
    ['../shared/testbed/bip-llama-tiny/', 'bip-llama-tiny'],
    ['out/model.onnx', 'out'],
    ['models/tinyllama-fp16.onnx', 'tinyllama-fp16'],
  ])('%s -> %s', (path, name) => expect(modelName(path)).toBe(name));
});
