/**
 * Criteria as plug-ins end to end: a criterion in a module file of its own (fixtures/index-order.mjs)
 * joins through --plugin, its option becomes a flag, and prune-llm plans with it. Also the HF export
 * cache: the second command on the same checkpoint reuses the export, a changed checkpoint does not.
 */
import { copyFileSync, mkdirSync, openSync, readdirSync, readFileSync, writeFileSync, closeSync, readSync, writeSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PruningPlan } from '@llm-bip/model';
import { fixtures, shared, tempDir } from '@llm-bip/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { cli } from '../../capture.testutil.js';

const here = dirname(fileURLToPath(import.meta.url));
const plugin = join(here, 'fixtures', 'index-order.mjs');
const t = tempDir('llm-bip-cli-plugin-');
afterAll(() => t.cleanup());
const env = { ...process.env, LLM_BIP_CACHE: join(t.dir, 'cache') };
const calib = join(t.dir, 'calib.jsonl');
writeFileSync(calib, `${readFileSync(shared('data/c4/c4_sample.jsonl'), 'utf8').split('\n').slice(0, 16).join('\n')}\n`);
const quick = ['--samples', '4', '--seq-len', '16', '--calib', calib, '--eval', 'none', '--no-bench', '--ep', 'cpu'];

describe('a criterion from --plugin', () => {
  it('shows its option in --help, and prune-llm plans with it (descending: the highest indices go)', async () => {
    const help = await cli(['prune-llm', '--plugin', plugin, '--help'], { env });
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/--criterion NAME +importance criterion: llm-bip \| wanda-sp \| flap \| magnitude \| random \| index-order/);
    expect(help.stdout).toMatch(/--order VALUE +ascending: the lowest indices score lowest/);
    expect(help.stdout).toMatch(/--head-term T +llm-bip ablations: lipschitz/);

    const out = join(t.dir, 'out');
    const r = await cli(['prune-llm', fixtures.tinyHf, '--plugin', plugin, '--criterion', 'index-order', '--order', 'descending', '--allocation', 'uniform', '--ratio', '0.25', ...quick, '-o', out], { env });
    expect(r.code, r.stderr).toBe(0);
    const plan = JSON.parse(readFileSync(join(out, 'plan.json'), 'utf8')) as PruningPlan;
    expect(plan).toMatchObject({ criterion: 'index-order', allocation: 'uniform', ratio: 0.25 });
    expect(plan.notes?.criterionOptions).toEqual({ order: 'descending' });
    for (const l of plan.layers) {
      // the kept ones are exactly the lowest indices: 0..k-1
      expect(l.keepChannels).toEqual(Array.from({ length: l.keepChannels.length }, (_, i) => i));
      expect(l.keepKvHeads).toEqual(Array.from({ length: l.keepKvHeads.length }, (_, i) => i));
      expect(l.keepChannels.length).toBeLessThan(plan.model.intermediateSize[l.layer]!);
    }
  });

  it('an option of another criterion is a usage error naming the one that has it', async () => {
    const r = await cli(['prune-llm', fixtures.tinyHf, '--criterion', 'flap', '--head-term', 'direct', '--ratio', '0.2', ...quick, '-o', join(t.dir, 'x')], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--head-term only applies to --criterion llm-bip');
  });

  it('names a missing module, a module without a criterion, and a clash with a built-in', async () => {
    const missing = await cli(['score', fixtures.tinyHf, '--plugin', join(t.dir, 'nope.mjs'), '-o', join(t.dir, 's.json')], { env });
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/criterion plug-in .*nope\.mjs does not exist/);
    const none = await cli(['score', fixtures.tinyHf, '--plugin', join(here, 'fixtures', 'not-a-criterion.mjs'), '-o', join(t.dir, 's.json')], { env });
    expect(none.stderr).toMatch(/not-a-criterion\.mjs exports no criterion: export it as default, as `criterion`/);
    const clash = await cli(['score', fixtures.tinyHf, '--plugin', join(here, 'fixtures', 'clashes.mjs'), '-o', join(t.dir, 's.json')], { env });
    expect(clash.stderr).toMatch(/the name "random" is taken by a built-in criterion; rename yours/);
  });
});

describe('HF export cache', () => {
  it('a second command reuses the export; a changed checkpoint misses the cache', async () => {
    const cache = join(t.dir, 'cache2');
    const e = { ...process.env, LLM_BIP_CACHE: cache };
    const first = await cli(['inspect', fixtures.tinyHf], { env: e });
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).not.toContain('reusing');
    const second = await cli(['inspect', fixtures.tinyHf], { env: e });
    expect(second.stderr).toContain(`export: reusing the cached ONNX export of ${fixtures.tinyHf}`);
    expect(second.stdout).toBe(first.stdout);
    expect(readdirSync(join(cache, 'exports')).filter((n) => !n.startsWith('.'))).toHaveLength(1);

    // the same checkpoint with one weight byte changed far from the file's start
    const copy = join(t.dir, 'changed');
    mkdirSync(copy);
    for (const f of readdirSync(fixtures.tinyHf)) if (statSync(join(fixtures.tinyHf, f)).isFile()) copyFileSync(join(fixtures.tinyHf, f), join(copy, f));
    const st = join(copy, 'model.safetensors');
    const fd = openSync(st, 'r+');
    const at = Math.floor(statSync(st).size * 0.75);
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, at);
    b[0] = b[0]! ^ 0x01;
    writeSync(fd, b, 0, 1, at);
    closeSync(fd);
    const third = await cli(['inspect', copy], { env: e });
    expect(third.code, third.stderr).toBe(0);
    expect(third.stderr).not.toContain('reusing');
    expect(readdirSync(join(cache, 'exports')).filter((n) => !n.startsWith('.'))).toHaveLength(2);
  });
});
