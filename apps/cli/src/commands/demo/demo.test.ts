import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { locatePerplexitySet } from '@llm-bip/eval';
import { calibrationFile } from '@llm-bip/pipeline';
import { tempDir } from '@llm-bip/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../errors.js';
import { cli } from '../../capture.testutil.js';
import { demoInputs, demoRequest } from './index.js';

/** apps/cli/, where the package's embedded demo folder lives */
const appDir = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

const t = tempDir('llm-bip-cli-demo-');
afterAll(() => t.cleanup());

describe('demo inputs', () => {
  it('--model wins, then $LLM_BIP_DEMO_MODEL; --data wins over the defaults', () => {
    const a = join(t.dir, 'a');
    const b = join(t.dir, 'b');
    for (const d of [a, b]) {
      mkdirSync(d);
      writeFileSync(join(d, 'config.json'), '{}');
    }
    expect(demoInputs({ LLM_BIP_DEMO_MODEL: b }, a, '/data').model).toBe(a);
    expect(demoInputs({ LLM_BIP_DEMO_MODEL: b }, undefined, '/data')).toEqual({ model: b, data: '/data' });
  });

  it('a folder that is not a checkpoint is skipped for the next candidate', () => {
    const notCkpt = join(t.dir, 'empty');
    mkdirSync(notCkpt);
    expect(demoInputs({}, notCkpt).model).not.toBe(notCkpt);
  });

  it('bad arguments are refused before any work', async () => {
    const r = await cli(['demo', '--ratio', '2']);
    expect(r.code).toBe(ExitCode.usage);
    expect(r.stderr).toContain('--ratio must be a number between 0 and 1');
    const extra = await cli(['demo', 'model.onnx']);
    expect(extra.code).toBe(ExitCode.usage);
    expect(extra.stderr).toContain('unexpected argument "model.onnx"');
  });

  it('runs on the embedded model and data only (an installed package has no ../shared beside it)', () => {
    const req = demoRequest({ values: { output: join(t.dir, 'out') }, positionals: [], env: {} });
    expect(req.model).toBe(join(appDir, 'demo', 'bip-llama-tiny'));
    expect(req.eval.dataDir).toBe(join(appDir, 'demo', 'data'));
    expect(req.eval.limit).toBe(200);
    expect(req.output).toBe(join(t.dir, 'out'));
  });

  it('--limit N evaluates the first N windows; a limit below 1 is refused before any work', async () => {
    expect(demoRequest({ values: { output: join(t.dir, 'out'), limit: '20' }, positionals: [], env: {} }).eval.limit).toBe(20);
    const r = await cli(['demo', '--limit', '0']);
    expect(r.code).toBe(ExitCode.usage);
    expect(r.stderr).toContain('--limit must be a whole number ≥ 1, got "0"');
  });

  it('the published package carries every file the demo reads, and no tests', () => {
    const req = demoRequest({ values: { output: join(t.dir, 'out') }, positionals: [], env: {} });
    const needed = [
      join(req.model, 'config.json'),
      join(req.model, 'model.safetensors'),
      join(req.model, 'tokenizer.json'),
      calibrationFile({ ...req.calibration, dataDir: req.eval.dataDir }),
      locatePerplexitySet('wikitext2', req.eval.dataDir),
    ].map((p) => relative(appDir, p));
    // npm's own file list for apps/cli (what `pnpm pack` / `npm publish` would put in the tarball)
    const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: appDir, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const files = (JSON.parse(r.stdout) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path);
    expect(needed.filter((p) => !files.includes(p))).toEqual([]);
    expect(files.filter((p) => /\.(test|testutil)\.ts$/.test(p))).toEqual([]);
  });
});
