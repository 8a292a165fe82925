/**
 * --reconstruct end to end on the tiny test-bed model: prune-llm writes a reconstructed model and says
 * so in results.json and the pruning record; `prune --reconstruct` with prune-llm's plan and the same
 * calibration writes the same weights.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixtures, shared, tempDir } from '@llm-bip/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { validateReportData } from '../../report/validate.js';
import { cli } from '../../capture.testutil.js';

const t = tempDir('llm-bip-cli-reconstruct-');
afterAll(() => t.cleanup());
const calib = join(t.dir, 'calib.jsonl');
const env = { ...process.env, LLM_BIP_CACHE: join(t.dir, 'cache') };
const calibArgs = ['--samples', '8', '--seq-len', '32', '--seed', '3', '--calib', calib, '--ep', 'cpu'];

describe('llm-bip prune-llm / prune --reconstruct (tiny test-bed model)', () => {
  it('writes the refit model; `prune --reconstruct` with the same plan and calibration writes the same weights', async () => {
    mkdirSync(t.dir, { recursive: true });
    writeFileSync(calib, `${readFileSync(shared('data/c4/c4_sample.jsonl'), 'utf8').split('\n').slice(0, 24).join('\n')}\n`);
    const a = join(t.dir, 'a');
    const run = await cli(['prune-llm', fixtures.tinyHf, '--ratio', '0.4', '--reconstruct', '--holdout', '0.25', ...calibArgs, '--eval', 'none', '--no-bench', '-o', a, '--json'], { env });
    expect(run.code, run.stderr).toBe(0);
    const results = validateReportData(JSON.parse(readFileSync(join(a, 'results.json'), 'utf8')));
    expect(results.plan.reconstruction).toEqual({ lambda: 'auto', holdoutSamples: 2 });
    expect(results.plan.compensation).toBe(true);
    const record = JSON.parse(readFileSync(join(a, 'model.onnx.pruning.json'), 'utf8'));
    expect(record.reconstruction).toMatchObject({ method: 'least-squares', lambda: 'auto', search: 'walk', holdoutSamples: 2, calibration: { samples: 8, seqLen: 32, seed: 3 } });
    expect(record.reconstruction.projections.length).toBeGreaterThan(0);
    for (const p of record.reconstruction.projections) {
      // the walk judges the middle pair, the candidates on the way down to the minimum, and mean compensation
      expect(Object.keys(p.heldOutError).length).toBeGreaterThanOrEqual(3);
      expect(Object.keys(p.heldOutError)).toContain('mean');
      // measured with the EP's products (moved operands): a finite error per candidate, so the choice means something
      for (const e of Object.values(p.heldOutError)) expect(e, JSON.stringify(p)).toBeGreaterThan(0);
    }

    const b = join(t.dir, 'b');
    const again = await cli(['prune', fixtures.tinyHf, '--plan', join(a, 'plan.json'), '--reconstruct', '--holdout', '0.25', ...calibArgs, '-o', b, '--json'], { env });
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout).result.reconstruction.projections).toEqual(record.reconstruction.projections);
    expect(readFileSync(join(b, 'model.onnx.data')).equals(readFileSync(join(a, 'model.onnx.data')))).toBe(true);

  }, 900_000); // two calibrations and probe passes: ~1 min idle, several on the loaded 2-core box
});
