import { PLAN_FORMAT, type PruningPlan } from '@llm-bip/model';
import type { GroupScores } from '@llm-bip/scoring';
import { describe, expect, it } from 'vitest';
import { modelName, scoresSection } from './results.js';

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

describe('modelName', () => {
  it.each([
    ['../shared/testbed/bip-llama-tiny', 'bip-llama-tiny'],
    ['../shared/testbed/bip-llama-tiny/', 'bip-llama-tiny'],
    ['out/model.onnx', 'out'],
    ['models/tinyllama-fp16.onnx', 'tinyllama-fp16'],
  ])('%s -> %s', (path, name) => expect(modelName(path)).toBe(name));
});
