import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '@llm-bip/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../errors.js';
import { cli } from '../../capture.testutil.js';
import { demoInputs } from './index.js';

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
});
