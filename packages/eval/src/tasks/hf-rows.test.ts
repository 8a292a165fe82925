import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '@llm-bip/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { findHfParquet, taskItemsFromHfRows } from './hf-rows.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

// rows shaped as hyparquet returns the HF datasets' parquet files
describe('HF dataset rows', () => {
  it('build the same requests as the release formats', () => {
    const [boolq] = taskItemsFromHfRows('boolq', [{ question: 'is it', passage: 'P -- t', idx: 3, label: 1 }]);
    expect(boolq!.requests[1]).toEqual({ context: 'P -- t\nQuestion: is it?\nAnswer:', continuation: ' yes' });
    expect(boolq!.gold).toBe(1);
    const [piqa] = taskItemsFromHfRows('piqa', [{ goal: 'g', sol1: 'a', sol2: 'b', label: 1 }]);
    expect(piqa!.gold).toBe(1);
    expect(piqa!.requests[0]!.context).toBe('Question: g\nAnswer:');
    const [arc] = taskItemsFromHfRows('arc_challenge', [{ id: 'q1', question: 'Why?', choices: { text: ['x', 'y'], label: ['A', 'B'] }, answerKey: 'B' }]);
    expect(arc!.requests.map((r) => r.continuation)).toEqual([' x', ' y']);
    expect(arc!.gold).toBe(1);
    const [obqa] = taskItemsFromHfRows('openbookqa', [{ id: '7', question_stem: 'Sun is', choices: { text: ['hot', 'cold'], label: ['A', 'B'] }, answerKey: 'A' }]);
    expect(obqa!.requests[0]).toEqual({ context: 'Sun is', continuation: ' hot' });
    const [hs] = taskItemsFromHfRows('hellaswag', [{ ind: 4, activity_label: 'Cooking', ctx_a: 'A man cuts.', ctx_b: 'he', endings: ['a', 'b', 'c', 'd'], label: '2' }]);
    expect(hs!.requests[0]!.context).toBe('Cooking: A man cuts. He');
    expect(hs!.gold).toBe(2);
    const [wg] = taskItemsFromHfRows('winogrande', [{ sentence: 'A _ b.', option1: 'x', option2: 'y', answer: '2' }]);
    expect(wg!.requests[1]).toEqual({ context: 'A y', continuation: ' b.' });
  });

  it('finds a single-file parquet of the scored split in the task folder', () => {
    mkdirSync(join(tmp.dir, 'arc_easy'), { recursive: true });
    expect(findHfParquet('arc_easy', tmp.dir)).toBeUndefined();
    writeFileSync(join(tmp.dir, 'arc_easy', 'train-00000-of-00001.parquet'), '');
    expect(findHfParquet('arc_easy', tmp.dir)).toBeUndefined();
    writeFileSync(join(tmp.dir, 'arc_easy', 'test-00000-of-00001.parquet'), '');
    expect(findHfParquet('arc_easy', tmp.dir)).toBe(join(tmp.dir, 'arc_easy', 'test-00000-of-00001.parquet'));
    expect(findHfParquet('boolq', tmp.dir)).toBeUndefined();
  });
});
