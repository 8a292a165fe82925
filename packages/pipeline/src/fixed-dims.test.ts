/**
 * A dynamo export traced with its input dims fixed to [1, 16] (llama3 family fixture): scored and
 * evaluated with the batch adapted to 1, giving what the same model with dynamic axes gives; a run
 * asking for other lengths is refused before any long step (prune-llm: before calibration), naming
 * each conflict and its fix.
 */
import { describe, expect, it } from 'vitest';
import { FixedDimensionError } from '@llm-bip/model';
import { sampleCalibration, tapValues } from '@llm-bip/scoring';
import type { EvalTokenizer } from '@llm-bip/eval';
import { familyFixture, shared, tempDir } from '@llm-bip/testing';
import { evaluateModel, loadModelInput, pruneLlm, scoreModel, type EvalRequest } from './index.js';

const fixedPath = familyFixture('llama3', 'model.dynamo-fixed.onnx');
const dynamicPath = familyFixture('llama3', 'model.dynamo.onnx');

// the fixture has a 512-token vocabulary and no tokenizer: characters mod 512 stand in (the dims are under test, not the text)
const charTokenizer: EvalTokenizer = {
  encode: (t: string) => Array.from(t, (ch) => ch.charCodeAt(0) % 512),
  decode: (ids) => String.fromCharCode(...ids),
  bosId: undefined,
  eosId: undefined,
  addBos: false,
  addEos: false,
  hash: 'test:char-mod-512',
  path: 'test',
};

const texts = Array.from({ length: 8 }, (_, i) => `document ${i}: ` + 'the quick brown fox jumps over the lazy dog '.repeat(2 + i));

describe('a model whose input dims are fixed to [1, 16]', () => {
  it('is scored with batch 1 to the statistics of the same model with dynamic axes', async () => {
    const calibration = await sampleCalibration({ texts, encode: charTokenizer.encode, samples: 5, seqLen: 16, seed: 1 });
    const fixed = await scoreModel(await loadModelInput(fixedPath), { criterion: 'llm-bip', calibration, ep: 'cpu', batchSize: 4 });
    const dynamic = await scoreModel(await loadModelInput(dynamicPath), { criterion: 'llm-bip', calibration, ep: 'cpu', batchSize: 4 });
    expect(fixed.statistics.rows).toBe(5);
    const tap = { layer: 1, tensor: 'ffnAct', reduction: 'sumAbs' } as const;
    const a = tapValues(fixed.statistics, tap, 'test');
    const b = tapValues(dynamic.statistics, tap, 'test');
    for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(b[i]!)));
  });

  it('is evaluated with batch 1 to the perplexity of the dynamic model; other window lengths and tasks are refused before running', async () => {
    const req: EvalRequest = { ppl: ['wikitext2'], tasks: [], seqLen: 16, limit: 6, batchSize: 4, dataDir: shared('data'), ep: 'cpu' };
    const fixed = await evaluateModel({ path: fixedPath }, charTokenizer, req);
    const dynamic = await evaluateModel({ path: dynamicPath }, charTokenizer, req);
    expect(fixed.perplexity[0]!.windows).toBe(6);
    expect(Math.abs(fixed.perplexity[0]!.ppl / dynamic.perplexity[0]!.ppl - 1)).toBeLessThan(1e-5);

    await expect(evaluateModel({ path: fixedPath }, charTokenizer, { ...req, seqLen: 32 })).rejects.toThrow(FixedDimensionError);
    await expect(evaluateModel({ path: fixedPath }, charTokenizer, { ...req, seqLen: 32 })).rejects.toThrow(/fixes its input_ids dims \(batch 1, 16 tokens\), and perplexity windows have 32 tokens \(use --seq-len 16\)/);
    await expect(evaluateModel({ path: fixedPath }, charTokenizer, { ...req, tasks: ['piqa'] })).rejects.toThrow(/zero-shot task requests have any length/);
  });

  it('prune-llm refuses default lengths before calibrating, naming every conflict', async () => {
    const tmp = tempDir('pipeline-fixed-');
    const started: string[] = [];
    try {
      const input = { ...(await loadModelInput(fixedPath)), tokenizer: charTokenizer };
      const run = pruneLlm(
        input,
        {
          ratio: 0.2,
          calibration: { calib: shared('data/c4/c4_sample.jsonl') },
          outPath: `${tmp.dir}/model.onnx`,
          eval: { ppl: ['wikitext2'], tasks: [], dataDir: shared('data'), ep: 'cpu' },
          ep: 'cpu',
        },
        { progress: (o) => (started.push(o.label), { update: () => undefined, finish: () => undefined }) },
      );
      await expect(run).rejects.toThrow(FixedDimensionError);
      await expect(run).rejects.toThrow(/calibration rows have 128 tokens \(use --seq-len 16\); perplexity windows have 128 tokens \(use --seq-len-eval 16\)/);
      expect(started).toEqual([]);
    } finally {
      tmp.cleanup();
    }
  });
});
