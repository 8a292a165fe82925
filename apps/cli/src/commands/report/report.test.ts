import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '@llm-bip/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../errors.js';
import { renderReport } from '../../report/render.js';
import { cli } from '../../capture.testutil.js';
import { sampleReport } from '../../sample-report.testutil.js';

const t = tempDir('llm-bip-cli-report-');
afterAll(() => t.cleanup());

describe('llm-bip report', () => {
  it('writes exactly renderReport(results.json) and reports its size', async () => {
    const data = sampleReport(4);
    const results = join(t.dir, 'results.json');
    writeFileSync(results, JSON.stringify(data));
    const out = join(t.dir, 'report.html');
    const r = await cli(['report', results, '-o', out, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const html = readFileSync(out, 'utf8');
    expect(html).toBe(renderReport(data));
    expect(JSON.parse(r.stdout).result).toEqual({ output: out, bytes: Buffer.byteLength(html) });
  });

  it('invalid JSON and a file of another format are input errors that say what to pass', async () => {
    const bad = join(t.dir, 'bad.json');
    writeFileSync(bad, '{"format": ');
    const a = await cli(['report', bad, '-o', join(t.dir, 'a.html')]);
    expect(a.code).toBe(ExitCode.input);
    expect(a.stderr).toContain(`${bad} is not valid JSON`);
    const plan = join(t.dir, 'plan.json');
    writeFileSync(plan, JSON.stringify({ format: 'llm-bip.plan/v1', layers: [] }));
    const b = await cli(['report', plan, '-o', join(t.dir, 'b.html')]);
    expect(b.code).toBe(ExitCode.input);
    expect(b.stderr).toContain(`${plan}: format should be "llm-bip.results/v1". Pass the results.json written by \`llm-bip prune-llm\``);
    expect(readdirSync(t.dir).filter((f) => f.endsWith('.html'))).toEqual(['report.html']);
  });

  it('-o is required', async () => {
    const r = await cli(['report', join(t.dir, 'results.json')]);
    expect(r.code).toBe(ExitCode.usage);
    expect(r.stderr).toContain('missing -o REPORT.html');
  });
});
