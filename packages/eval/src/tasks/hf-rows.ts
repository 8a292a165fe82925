import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DatasetError } from '../errors.js';
import { taskFiles } from './loaders.js';
import { arcItem, boolqItem, hellaswagItem, openbookqaItem, piqaItem, winograndeItem, type ArcLikeDoc } from './templates.js';
import type { TaskItem, TaskName } from './types.js';

/** Split lm-eval scores for each task (validation, or test for ARC and OBQA). */
export const taskSplit: Record<TaskName, string> = {
  boolq: 'validation',
  piqa: 'validation',
  hellaswag: 'validation',
  winogrande: 'validation',
  arc_easy: 'test',
  arc_challenge: 'test',
  openbookqa: 'test',
};

/**
 * An HF-datasets parquet file of the task's scored split in the task's folder (e.g.
 * boolq/validation-00000-of-00001.parquet), used when the standard files are absent.
 */
export function findHfParquet(task: TaskName, tasksDir: string): string | undefined {
  const folder = join(tasksDir, dirname(taskFiles[task][0]!));
  if (!existsSync(folder)) return undefined;
  const files = readdirSync(folder)
    .filter((f) => f.endsWith('.parquet') && f.startsWith(taskSplit[task]))
    .sort();
  if (files.length > 1) throw new DatasetError(`${folder}: several ${taskSplit[task]} parquet shards (${files.join(', ')}); only single-file splits are read`);
  return files.length ? join(folder, files[0]!) : undefined;
}

type Row = Record<string, unknown>;

/** Items from rows in the HF datasets layout of each task (super_glue/boolq, piqa, hellaswag, winogrande, ai2_arc, openbookqa). */
export function taskItemsFromHfRows(task: TaskName, rows: readonly Row[]): TaskItem[] {
  return rows.map((r, i) => {
    switch (task) {
      case 'boolq':
        return boolqItem(r as Parameters<typeof boolqItem>[0], i);
      case 'piqa':
        return piqaItem(r as Parameters<typeof piqaItem>[0], Number(r.label), i);
      case 'hellaswag':
        return hellaswagItem(r as Parameters<typeof hellaswagItem>[0], i);
      case 'winogrande':
        return winograndeItem(r as Parameters<typeof winograndeItem>[0], i);
      case 'arc_easy':
      case 'arc_challenge':
        return arcItem(r as unknown as ArcLikeDoc, i);
      case 'openbookqa':
        return openbookqaItem(r as unknown as ArcLikeDoc, i);
    }
  });
}
