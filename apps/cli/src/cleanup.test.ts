import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { tempDir } from '@llm-bip/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { CleanupRegistry } from './cleanup.js';

const cleanups: Array<() => void> = [];
afterEach(() => {
  while (cleanups.length) cleanups.pop()!();
});

/** Another thread writing files into `dir` for `ms` (a step that ignores the abort, on libuv's pool). */
function keepWriting(dir: string, ms: number): Promise<void> {
  const code = `
    const { writeFileSync } = require('node:fs');
    const { workerData, parentPort } = require('node:worker_threads');
    parentPort.postMessage('started');
    const end = Date.now() + workerData.ms;
    let i = 0;
    while (Date.now() < end) { try { writeFileSync(workerData.dir + '/part-' + (i++ % 50), 'x'); } catch {} }
  `;
  const w = new Worker(code, { eval: true, workerData: { dir, ms } });
  return new Promise((resolve, reject) => {
    w.once('message', () => resolve());
    w.once('error', reject);
  });
}

/** An output folder this run created, with its staging folder inside, both registered. */
function stagedOutput(): { created: string; staging: string; r: CleanupRegistry } {
  const t = tempDir('llm-bip-cleanup-');
  cleanups.push(t.cleanup);
  const created = join(t.dir, 'out');
  const staging = join(created, '.staging');
  mkdirSync(staging, { recursive: true });
  const r = new CleanupRegistry();
  r.addEmptyDir(created);
  r.add(staging);
  return { created, staging, r };
}

describe('CleanupRegistry', () => {
  it('removes staged paths and created folders; an empty created folder only', () => {
    const { created, staging, r } = stagedOutput();
    r.removeAll();
    expect(existsSync(created)).toBe(false);
    expect(r.pending).toEqual([]);
  });

  it('with settleMs, a folder another thread keeps writing into is removed once the writes stop', async () => {
    const { created, staging, r } = stagedOutput();
    await keepWriting(staging, 300);
    r.removeAll({ settleMs: 5000 });
    expect(existsSync(staging)).toBe(false);
    expect(existsSync(created)).toBe(false);
    expect(r.pending).toEqual([]);
  });
});
