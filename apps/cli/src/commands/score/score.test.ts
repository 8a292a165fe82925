/** score on the tiny test-bed checkpoint with a few short calibration rows of the C4 sample. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixtures, shared, tempDir } from '@llm-bip/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { cli } from '../../capture.testutil.js';

const t = tempDir('llm-bip-cli-score-');
const env = { ...process.env, LLM_BIP_CACHE: join(t.dir, 'cache') };
afterAll(() => t.cleanup());

async function score(name: string, ...args: string[]): Promise<{ layers: { heads: number[]; channels: number[] }[] }> {
  const out = join(t.dir, `${name}.json`);
  const r = await cli(['score', fixtures.tinyHf, '--samples', '2', '--seq-len', '16', '--ep', 'cpu', '--data', shared('data'), '-o', out, ...args], { env });
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(readFileSync(out, 'utf8')).scores;
}

describe('llm-bip score', () => {
  it('the random criterion draws from --seed: same seed, same scores; another seed, other scores', async () => {
    const a = await score('random-0', '--criterion', 'random', '--seed', '0');
    const again = await score('random-0-again', '--criterion', 'random', '--seed', '0');
    const b = await score('random-1', '--criterion', 'random', '--seed', '1');
    expect(again.layers).toEqual(a.layers);
    expect(b.layers[0]!.channels).not.toEqual(a.layers[0]!.channels);
    expect(b.layers[0]!.heads).not.toEqual(a.layers[0]!.heads);
  });

  it('llm-bip shows its spectral-norm step on stderr (one step per matrix: 3 per layer)', async () => {
    const out = join(t.dir, 'bip.json');
    const r = await cli(['score', fixtures.tinyHf, '--samples', '2', '--seq-len', '16', '--ep', 'cpu', '--data', shared('data'), '-o', out], { env });
    expect(r.code, r.stderr).toBe(0);
    const layers = JSON.parse(readFileSync(out, 'utf8')).scores.layers.length as number;
    expect(r.stderr).toMatch(new RegExp(`spectral norms.*\\b${layers * 3}\\b`));
  });
});
