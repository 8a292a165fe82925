import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Bunzip from 'seek-bzip';
import { DatasetError } from '../errors.js';
import { readJsonl, readLabelLines, splitLines } from '../datasets/readers.js';
import { arcItem, boolqItem, hellaswagItem, hellaswagTextItem, openbookqaItem, piqaItem, winograndeItem, type ArcLikeDoc } from './templates.js';
import type { TaskItem, TaskName } from './types.js';

/** Files of each task under the tasks folder (../shared/data/tasks), as shared/data/README.md lists them. */
export const taskFiles: Record<TaskName, string[]> = {
  boolq: ['boolq/val.jsonl'],
  piqa: ['piqa/valid.jsonl', 'piqa/valid-labels.lst'],
  hellaswag: ['hellaswag/hellaswag_val_full.txt.bz2'],
  winogrande: ['winogrande/dev.jsonl'],
  arc_easy: ['arc_easy/test.jsonl'],
  arc_challenge: ['arc_challenge/test.jsonl'],
  openbookqa: ['openbookqa/test.jsonl'],
};

/** The original HellaSwag validation jsonl: used instead of the text export when present (exact harness input). */
export const hellaswagJsonl = 'hellaswag/hellaswag_val.jsonl';

/** The task's files under `tasksDir` that are missing (empty when the task can run). */
export function missingTaskFiles(task: TaskName, tasksDir: string): string[] {
  if (task === 'hellaswag' && existsSync(join(tasksDir, hellaswagJsonl))) return [];
  return taskFiles[task].map((f) => join(tasksDir, f)).filter((p) => !existsSync(p));
}

/** HellaSwag in the llama.cpp text export: 6 lines per item (context, gold label, 4 endings), bzip2 or plain. */
export function readHellaswagText(path: string): { context: string; endings: string[]; label: number }[] {
  const raw = readFileSync(path);
  const text = (path.endsWith('.bz2') ? Bunzip.decode(raw) : raw).toString('utf8');
  const lines = splitLines(text);
  if (lines.length % 6 !== 0) throw new DatasetError(`${path}: ${lines.length} lines is not a multiple of 6 (context, label, 4 endings per item)`);
  const items = [];
  for (let i = 0; i < lines.length; i += 6) {
    const label = Number(lines[i + 1]);
    if (!Number.isInteger(label) || label < 0 || label > 3) throw new DatasetError(`${path}:${i + 2}: label must be 0-3, got ${JSON.stringify(lines[i + 1])}`);
    items.push({ context: lines[i]!, endings: lines.slice(i + 2, i + 6), label });
  }
  return items;
}

/** Load a task's items from a folder laid out like ../shared/data/tasks. Throws DatasetError naming missing files. */
export function loadTaskItems(task: TaskName, tasksDir: string): TaskItem[] {
  const missing = missingTaskFiles(task, tasksDir);
  if (missing.length) throw new DatasetError(`${task}: missing ${missing.join(', ')}`);
  const file = (i: number): string => join(tasksDir, taskFiles[task][i]!);
  switch (task) {
    case 'boolq':
      return readJsonl<Parameters<typeof boolqItem>[0]>(file(0)).map((d, i) => boolqItem(d, i));
    case 'piqa': {
      const docs = readJsonl<Parameters<typeof piqaItem>[0]>(file(0));
      const labels = readLabelLines(file(1));
      if (labels.length !== docs.length) throw new DatasetError(`piqa: ${docs.length} items but ${labels.length} labels`);
      return docs.map((d, i) => piqaItem(d, Number(labels[i]), i));
    }
    case 'hellaswag': {
      const original = join(tasksDir, hellaswagJsonl);
      if (existsSync(original)) return readJsonl<Parameters<typeof hellaswagItem>[0]>(original).map((d, i) => hellaswagItem(d, i));
      return readHellaswagText(file(0)).map((d, i) => hellaswagTextItem(d, i));
    }
    case 'winogrande':
      return readJsonl<Parameters<typeof winograndeItem>[0]>(file(0)).map((d, i) => winograndeItem(d, i));
    case 'arc_easy':
    case 'arc_challenge':
      return readJsonl<ArcLikeDoc>(file(0)).map((d, i) => arcItem(d, i));
    case 'openbookqa':
      return readJsonl<ArcLikeDoc>(file(0)).map((d, i) => openbookqaItem(d, i));
  }
}
