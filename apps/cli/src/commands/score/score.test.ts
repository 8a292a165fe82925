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

  it('--blocks-per-session scores block by block: same scores file content as the whole run, segments and peaks in --json, one line per segment', async () => {
    const whole = join(t.dir, 'whole.json');
    const blockwise = join(t.dir, 'blockwise.json');
    const base = ['score', fixtures.tinyHf, '--samples', '2', '--seq-len', '16', '--ep', 'cpu', '--data', shared('data')];
    const a = await cli([...base, '-o', whole], { env });
    expect(a.code, a.stderr).toBe(0);
    const b = await cli([...base, '--blocks-per-session', '4', '-o', blockwise], { env });
    expect(b.code, b.stderr).toBe(0);
    expect(b.stderr).toMatch(/segment 2\/3: blocks 0-3/);
    expect(b.stderr).toMatch(/segment 3\/3: blocks 4-5/);
    const [sw, sb] = [whole, blockwise].map((f) => JSON.parse(readFileSync(f, 'utf8')));
    expect(sb.statistics.taps).toEqual(sw.statistics.taps);
    expect(sb.scores).toEqual(sw.scores);
    const j = await cli([...base, '--max-device-memory', '20MB', '--json', '-o', join(t.dir, 'budget.json')], { env });
    expect(j.code, j.stderr).toBe(0);
    const scoring = JSON.parse(j.stdout).result.scoring;
    expect(scoring.mode).toBe('blockwise');
    expect(scoring.budgetBytes).toBe(20e6);
    expect(scoring.segments[0].segment).toBe('embedding');
    // each segment's estimate by part (CPU EP: no reserve, no EP overhead, nothing measured)
    expect(scoring.ep).toBe('cpu');
    for (const s of scoring.segments) {
      expect(s.estimatedBytes).toBe(s.weightBytes + s.activationBytes + s.reserveBytes + s.overheadBytes);
      expect([s.reserveBytes, s.overheadBytes]).toEqual([0, 0]);
      expect(s).not.toHaveProperty('measuredBytes');
    }
    expect(scoring.estimatedPeakBytes).toBeLessThanOrEqual(20e6);
    expect(scoring.hostPeakRssBytes).toBeGreaterThan(0);
    // where the time went, in the JSON too (progress lines are silent under --json)
    expect(scoring.seconds.calibration).toBeGreaterThan(0);
    expect(scoring.seconds.criterion).toBeGreaterThan(0);
  });

  it('refuses a malformed --max-device-memory as a usage error naming the accepted forms', async () => {
    const r = await cli(['score', fixtures.tinyHf, '--max-device-memory', 'lots', '--ep', 'cpu', '--data', shared('data'), '-o', join(t.dir, 'x.json')], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--max-device-memory must be a size such as 8GB, 500MB, 1.5GiB or a number of bytes, or auto; got "lots"/);
  });
});
