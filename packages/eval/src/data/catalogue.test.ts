import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { tempDir } from '@llm-bip/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { findHfParquet } from '../tasks/hf-rows.js';
import { taskNames } from '../tasks/types.js';
import { DATA_SETS, hubUrl } from './catalogue.js';
import { findDataSetIn } from './resolve.js';
import { SHARED_DATA } from './shared-hub.testutil.js';

const t = tempDir('llm-bip-catalogue-');
afterAll(() => t.cleanup());

describe('the dataset catalogue', () => {
  it('covers the perplexity sets, C4 and the seven tasks, each from a pinned revision', () => {
    expect(DATA_SETS.map((s) => s.name)).toEqual(['wikitext2', 'ptb', 'ptb-test', 'c4', ...taskNames]);
    for (const s of DATA_SETS) {
      for (const f of s.hub) {
        // a commit sha, or the Hub's parquet-conversion branch where the repository publishes no data files itself
        expect(f.revision).toMatch(/^([0-9a-f]{40}|refs\/convert\/parquet)$/);
        if (f.sha256 !== undefined) expect(f.sha256).toMatch(/^[0-9a-f]{64}$/);
      }
    }
    expect(DATA_SETS.filter((s) => s.hub.every((f) => f.sha256)).map((s) => s.name)).toEqual(['wikitext2', 'arc_easy', 'arc_challenge', 'openbookqa']);
  });

  it('the Hub layout of every set is what the readers look for in a data folder', () => {
    const dir = join(t.dir, 'hub-layout');
    for (const s of DATA_SETS) {
      for (const f of s.hub) {
        mkdirSync(dirname(join(dir, f.path)), { recursive: true });
        writeFileSync(join(dir, f.path), '');
      }
    }
    for (const s of DATA_SETS) expect(findDataSetIn(s.name, dir)?.layout, s.name).toBe('hub');
    for (const task of taskNames) expect(findHfParquet(task, join(dir, 'tasks')), task).toBe(join(dir, DATA_SETS.find((s) => s.name === task)!.hub[0]!.path));
  });

  it('the development copy (../shared/data) holds every set in its own layout', () => {
    for (const s of DATA_SETS) expect(findDataSetIn(s.name, SHARED_DATA)?.layout, s.name).toBe('local');
  });

  it('download URLs follow the Hub layout; a branch revision is escaped', () => {
    expect(hubUrl('https://huggingface.co/', DATA_SETS[0]!.hub[0]!)).toBe(
      'https://huggingface.co/datasets/Salesforce/wikitext/resolve/b08601e04326c79dfdd32d625aee71d232d685c3/wikitext-2-raw-v1/test-00000-of-00001.parquet',
    );
    expect(hubUrl('https://hf-mirror.example', DATA_SETS[1]!.hub[0]!)).toBe(
      'https://hf-mirror.example/datasets/ptb-text-only/ptb_text_only/resolve/refs%2Fconvert%2Fparquet/penn_treebank/validation/0000.parquet',
    );
  });
});
