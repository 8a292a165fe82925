import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createSession, type Session } from '@llm-bip/runtime';
import { fixtures, shared, tempDir } from '@llm-bip/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parquetFile } from './datasets/parquet.testutil.js';
import { EvalError } from './errors.js';
import { scoreRequests } from './loglikelihood.js';
import { buildReport, formatReport } from './results.js';
import { loadTaskItems } from './tasks/loaders.js';
import { loadTokenizer } from './tokenizer.js';
import { evaluateTasks } from './zero-shot.js';

const tmp = tempDir();
const tokenizer = loadTokenizer(fixtures.tinyHf);
let session: Session;
beforeAll(async () => {
  session = await createSession(fixtures.torchscript, { ep: 'cpu', threads: 1 });
});
afterAll(async () => {
  await session.release();
  tmp.cleanup();
});

describe('evaluateTasks', () => {
  it('scores the available tasks, lists missing ones, and reports acc from the per-choice log-likelihoods', async () => {
    const dir = join(tmp.dir, 'tasks');
    mkdirSync(join(dir, 'piqa'), { recursive: true });
    mkdirSync(join(dir, 'winogrande'), { recursive: true });
    copyFileSync(shared('data/tasks/piqa/valid.jsonl'), join(dir, 'piqa/valid.jsonl'));
    copyFileSync(shared('data/tasks/piqa/valid-labels.lst'), join(dir, 'piqa/valid-labels.lst'));
    writeFileSync(
      join(dir, 'winogrande/dev.jsonl'),
      `${JSON.stringify({ sentence: 'The trophy did not fit in the suitcase because _ was too big.', option1: 'the trophy', option2: 'the suitcase', answer: '1' })}\n`,
    );
    const events: string[] = [];
    const out = await evaluateTasks(session, tokenizer, {
      tasksDir: dir,
      tasks: ['piqa', 'winogrande', 'boolq'],
      limit: 6,
      batchSize: 4,
      logSamples: true,
      onProgress: (e) => events.push(`${e.name}:${e.done}/${e.total}`),
    });
    expect(out.missing).toEqual([{ task: 'boolq', files: [join(dir, 'boolq/val.jsonl')] }]);
    const piqa = out.results.piqa!;
    expect(piqa.samples).toBe(6);
    expect(piqa.requests).toBe(12);
    expect(events.at(-1)).toBe('winogrande:2/2');
    // recompute acc from independently scored requests
    const items = loadTaskItems('piqa', dir).slice(0, 6);
    const lls = await scoreRequests(session, tokenizer, items.flatMap((i) => i.requests), { batchSize: 1 });
    const acc = items.filter((it, k) => (lls[2 * k]!.logprob >= lls[2 * k + 1]!.logprob ? 0 : 1) === it.gold).length / 6;
    expect(piqa.acc).toBeCloseTo(acc, 12);
    piqa.log!.forEach((s, k) => {
      expect(s.lls[0]).toBeCloseTo(lls[2 * k]!.logprob, 2);
      expect(s.lls[1]).toBeCloseTo(lls[2 * k + 1]!.logprob, 2);
    });
    expect(out.results.winogrande!.samples).toBe(1);
    expect(out.average).toBeCloseTo((piqa.acc + out.results.winogrande!.acc) / 2, 12);

    const report = buildReport({ tasks: out, config: { model: 'tiny' } });
    expect(report.results.piqa!.acc).toBe(piqa.acc);
    expect(report.results.average!.primary).toBe(out.average);
    expect(report.details.missingTasks).toEqual(out.missing);
    const text = formatReport({ tasks: out, config: {} });
    expect(text).toMatch(/\| piqa\s+\|/);
    expect(text).toContain('boolq: missing');
  });

  it('reads an HF parquet split when the release files are absent', async () => {
    const dir = join(tmp.dir, 'hf');
    mkdirSync(join(dir, 'winogrande'), { recursive: true });
    const sentence = 'The trophy did not fit in the suitcase because _ was too big.';
    writeFileSync(
      join(dir, 'winogrande', 'validation-00000-of-00001.parquet'),
      parquetFile({ sentence: [sentence, sentence], option1: ['the trophy', 'the trophy'], option2: ['the suitcase', 'the suitcase'], answer: ['1', '2'] }),
    );
    const out = await evaluateTasks(session, tokenizer, { tasksDir: dir, tasks: ['winogrande'], logSamples: true });
    expect(out.missing).toEqual([]);
    const r = out.results.winogrande!;
    expect(r.samples).toBe(2);
    // same requests, opposite gold: exactly one of the two items is right
    expect(r.log![0]!.lls).toEqual(r.log![1]!.lls);
    expect(r.acc).toBe(0.5);
  });

  it('rejects unknown task names and bad limits', async () => {
    await expect(evaluateTasks(session, tokenizer, { tasksDir: tmp.dir, tasks: ['mmlu' as 'piqa'] })).rejects.toThrow(EvalError);
    await expect(evaluateTasks(session, tokenizer, { tasksDir: tmp.dir, limit: 0 })).rejects.toThrow(/--limit/);
  });
});
