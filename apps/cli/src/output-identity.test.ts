import { linkSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '@llm-bip/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { cli } from './capture.testutil.js';
import { CliError, ExitCode } from './errors.js';
import { assertOutputsDoNotReplaceInputs } from './output-identity.js';

const t = tempDir('llm-bip-identity-');
afterAll(() => t.cleanup());
let n = 0;
const fresh = () => {
  const d = join(t.dir, `case-${n++}`);
  mkdirSync(d);
  return d;
};
const refused = (f: () => void) => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(CliError);
    expect((e as CliError).exitCode).toBe(ExitCode.output);
    return (e as CliError).message;
  }
  throw new Error('not refused');
};

describe('assertOutputsDoNotReplaceInputs', () => {
  it('refuses an output file that is the input, through a symlink, a .. detour or a hard link', () => {
    const d = fresh();
    const s = join(d, 's.json');
    writeFileSync(s, '{}');
    symlinkSync(s, join(d, 'alias.json'));
    linkSync(s, join(d, 'hard.json'));
    mkdirSync(join(d, 'sub'));
    for (const out of [s, join(d, 'alias.json'), join(d, 'sub', '..', 's.json'), join(d, 'hard.json')]) {
      expect(refused(() => assertOutputsDoNotReplaceInputs({ inputs: [s], outputFile: out }))).toBe(`-o ${out} is the input ${s}: writing it would destroy the input; choose another output path`);
    }
    writeFileSync(join(d, 'copy.json'), '{}'); // same content, another file: fine
    assertOutputsDoNotReplaceInputs({ inputs: [s, undefined], outputFile: join(d, 'copy.json') });
    assertOutputsDoNotReplaceInputs({ inputs: [s], outputFile: join(d, 'new.json') });
  });

  it('refuses an output folder whose commit would replace the model, its data file or a folder input\'s file', () => {
    const m = fresh();
    writeFileSync(join(m, 'model.onnx'), 'm');
    writeFileSync(join(m, 'model.onnx.data'), 'd');
    expect(refused(() => assertOutputsDoNotReplaceInputs({ inputs: [join(m, 'model.onnx')], outputDir: m }))).toBe(
      `-o ${m} holds the input ${join(m, 'model.onnx')}, which this run's model.onnx would replace: write to another folder with -o`,
    );
    const other = join(m, 'weights.onnx'); // another model whose data file is named like our output's
    writeFileSync(other, 'w');
    linkSync(join(m, 'model.onnx.data'), `${other}.data`);
    expect(refused(() => assertOutputsDoNotReplaceInputs({ inputs: [other], outputDir: m, names: ['model.onnx.data'] }))).toContain(`holds the input ${other}.data`);
    // an HF folder as input: its config.json would be replaced
    const hf = fresh();
    writeFileSync(join(hf, 'config.json'), '{}');
    expect(refused(() => assertOutputsDoNotReplaceInputs({ inputs: [hf], outputDir: hf }))).toContain(`holds the input ${join(hf, 'config.json')}`);
    // a subfolder of the model's folder is fine
    assertOutputsDoNotReplaceInputs({ inputs: [join(m, 'model.onnx')], outputDir: join(m, 'pruned') });
  });
});

describe('the commands check before any work (#17 class 3)', () => {
  it('plan s.json -o s.json and report r.json -o r.json exit 4, the input untouched', async () => {
    const d = fresh();
    writeFileSync(join(d, 's.json'), '{"format":"llm-bip.scores/v1"}');
    const r = await cli(['plan', join(d, 's.json'), '--ratio', '0.2', '-o', join(d, 's.json')]);
    expect(r.code).toBe(ExitCode.output);
    expect(r.stderr).toContain(`is the input ${join(d, 's.json')}`);
    expect(readFileSync(join(d, 's.json'), 'utf8')).toBe('{"format":"llm-bip.scores/v1"}');
    writeFileSync(join(d, 'r.json'), '{}');
    const rep = await cli(['report', join(d, 'r.json'), '-o', join(d, 'r.json')]);
    expect(rep.code).toBe(ExitCode.output);
    expect(readFileSync(join(d, 'r.json'), 'utf8')).toBe('{}');
  });

  it('score m/model.onnx -o m/model.onnx and prune m/model.onnx -o m exit 4 before loading anything', async () => {
    const m = fresh();
    writeFileSync(join(m, 'model.onnx'), 'not even a model: the check comes first');
    writeFileSync(join(m, 'plan.json'), '{}');
    const s = await cli(['score', join(m, 'model.onnx'), '-o', join(m, 'model.onnx')]);
    expect(s.code).toBe(ExitCode.output);
    expect(s.stderr).toContain(`is the input ${join(m, 'model.onnx')}`);
    const p = await cli(['prune', join(m, 'model.onnx'), '--plan', join(m, 'plan.json'), '-o', m]);
    expect(p.code).toBe(ExitCode.output);
    expect(p.stderr).toContain(`holds the input ${join(m, 'model.onnx')}`);
    const pl = await cli(['prune-llm', join(m, 'model.onnx'), '--ratio', '0.2', '-o', m]);
    expect(pl.code).toBe(ExitCode.output);
    expect(readFileSync(join(m, 'model.onnx'), 'utf8')).toBe('not even a model: the check comes first');
  });
});
