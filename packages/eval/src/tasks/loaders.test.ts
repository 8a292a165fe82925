import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { shared, tempDir } from '@llm-bip/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { DatasetError } from '../errors.js';
import { loadTaskItems, missingTaskFiles, readHellaswagText } from './loaders.js';
import { taskNames } from './types.js';

const tasksDir = shared('data/tasks');
const tmp = tempDir();
afterAll(() => tmp.cleanup());

describe('task files in ../shared/data/tasks', () => {
  it('load with the documented item counts and valid gold labels', () => {
    const counts = { boolq: 3270, piqa: 1838, winogrande: 1267, arc_easy: 2376, arc_challenge: 1172, openbookqa: 500 } as const;
    for (const [task, n] of Object.entries(counts)) {
      const items = loadTaskItems(task as keyof typeof counts, tasksDir);
      expect(items, task).toHaveLength(n);
      for (const it of items) {
        expect(it.gold).toBeGreaterThanOrEqual(0);
        expect(it.gold).toBeLessThan(it.choices.length);
        expect(it.requests).toHaveLength(it.choices.length);
      }
    }
  });

  it('first items are built as the harness would', () => {
    const piqa = loadTaskItems('piqa', tasksDir)[0]!;
    expect(piqa.requests[0]!.context).toBe("Question: How do I ready a guinea pig cage for it's new occupants?\nAnswer:");
    expect(piqa.gold).toBe(0);
    const wino = loadTaskItems('winogrande', tasksDir)[0]!;
    expect(wino.requests[1]).toEqual({ context: 'Sarah was a much better surgeon than Maria so Maria', continuation: ' always got the easier cases.' });
    expect(wino.gold).toBe(1);
    const obqa = loadTaskItems('openbookqa', tasksDir)[0]!;
    expect(obqa.requests[1]).toEqual({
      context: 'A person wants to start saving money so that they can afford a nice vacation at the end of the year. After looking over their budget and expenses, they decide the best way to save money is to',
      continuation: ' quit eating lunch out',
    });
    expect(obqa.gold).toBe(1);
    const arc = loadTaskItems('arc_easy', tasksDir)[0]!;
    expect(arc.requests[0]).toEqual({ context: 'Question: Which statement best explains why photosynthesis is the foundation of most food webs?\nAnswer:', continuation: ' Sunlight is the source of energy for nearly all ecosystems.' });
    expect(arc.gold).toBe(0);
  });

  it('reads the bzip2 HellaSwag text export: 10,042 items of 4 endings', () => {
    const items = loadTaskItems('hellaswag', tasksDir);
    expect(items).toHaveLength(10042);
    expect(items[0]!.requests[3]).toEqual({ context: 'Roof shingle removal: A man is sitting on a roof. he', continuation: ' starts pulling up roofing on a roof.' });
    expect(items[0]!.gold).toBe(3);
    expect(items.every((i) => i.choices.length === 4)).toBe(true);
  });

  it('reports missing files instead of crashing', () => {
    const dir = join(tmp.dir, 'partial');
    mkdirSync(join(dir, 'piqa'), { recursive: true });
    copyFileSync(join(tasksDir, 'piqa/valid.jsonl'), join(dir, 'piqa/valid.jsonl'));
    expect(missingTaskFiles('piqa', dir)).toEqual([join(dir, 'piqa/valid-labels.lst')]);
    expect(() => loadTaskItems('piqa', dir)).toThrow(/piqa: missing .*valid-labels\.lst/);
    for (const t of taskNames) expect(missingTaskFiles(t, tasksDir)).toEqual([]);
  });

  it('prefers the original HellaSwag jsonl when it is there', () => {
    const dir = join(tmp.dir, 'hs-orig');
    mkdirSync(join(dir, 'hellaswag'), { recursive: true });
    expect(missingTaskFiles('hellaswag', dir)).toEqual([join(dir, 'hellaswag/hellaswag_val_full.txt.bz2')]);
    const doc = { ind: 24, activity_label: 'Roof shingle removal', ctx_a: 'A man is sitting on a roof.', ctx_b: 'he', endings: ['is using wrap.', 'starts pulling up roofing.', 'a', 'b'], label: '1' };
    writeFileSync(join(dir, 'hellaswag/hellaswag_val.jsonl'), `${JSON.stringify(doc)}\n`);
    expect(missingTaskFiles('hellaswag', dir)).toEqual([]);
    const [item] = loadTaskItems('hellaswag', dir);
    // ctx_b capitalised, as lm-eval's process_docs does (the text export lost this)
    expect(item!.requests[1]).toEqual({ context: 'Roof shingle removal: A man is sitting on a roof. He', continuation: ' starts pulling up roofing.' });
    expect(item!.gold).toBe(1);
    expect(item!.id).toBe('24');
  });

  it('a malformed HellaSwag text file is a DatasetError', () => {
    const p = join(tmp.dir, 'hs.txt');
    writeFileSync(p, 'ctx\n7\na\nb\nc\nd\n');
    expect(() => readHellaswagText(p)).toThrow(DatasetError);
    writeFileSync(p, 'ctx\n2\na\nb\n');
    expect(() => readHellaswagText(p)).toThrow(/not a multiple of 6/);
  });
});
