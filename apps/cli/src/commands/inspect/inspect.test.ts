import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeModel } from '@llm-bip/onnx-io';
import { fixtures, tempDir } from '@llm-bip/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../errors.js';
import { cli } from '../../capture.testutil.js';

const t = tempDir('llm-bip-cli-inspect-');
afterAll(() => t.cleanup());

describe('llm-bip inspect', () => {
  it('summarises a torch.onnx export: recogniser, shape, parameters (JSON)', async () => {
    const r = await cli(['inspect', fixtures.dynamo, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout).result;
    // the test-bed README: bip-llama-tiny has 6 layers, hidden 256, 8/8 heads, MLP 704, 9,014,528 parameters
    expect(s).toMatchObject({ recogniser: 'torch-onnx', layers: 6, hiddenSize: 256, vocabSize: 8192 });
    expect(s.parameters.total).toBe(9_014_528);
    expect(s.perLayer.map((l: { numHeads: number; intermediateSize: number }) => [l.numHeads, l.intermediateSize])).toEqual(Array(6).fill([8, 704]));
  });

  it('a truncated ONNX file: exit 3, names the file and says re-export', async () => {
    const bytes = readFileSync(fixtures.dynamo);
    const cut = join(t.dir, 'cut.onnx');
    writeFileSync(cut, bytes.subarray(0, 5000));
    const r = await cli(['inspect', cut]);
    expect(r.code).toBe(ExitCode.input);
    expect(r.stderr).toMatch(new RegExp(`^llm-bip: error: ${cut.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is not a readable ONNX model .*truncated or corrupt: re-export or re-download it\\.\\n$`));
  });

  it('an empty file and a missing file are named', async () => {
    const empty = join(t.dir, 'empty.onnx');
    writeFileSync(empty, '');
    const e = await cli(['inspect', empty]);
    expect(e.code).toBe(ExitCode.input);
    expect(e.stderr).toContain('is empty');
    const m = await cli(['inspect', join(t.dir, 'nope.onnx')]);
    expect(m.code).toBe(ExitCode.input);
    expect(m.stderr).toContain('does not exist');
  });

  it('a graph that is not a LLaMA decoder: exit 3, what was tried and how to fix it', async () => {
    const model = {
      irVersion: 8,
      opsetImport: [{ domain: '', version: 17 }],
      producerName: 'test',
      graph: {
        name: 'add',
        node: [{ opType: 'Add', input: ['a', 'b'], output: ['c'], name: 'add0' }],
        input: [
          { name: 'a', type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 2 }] } } } },
          { name: 'b', type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 2 }] } } } },
        ],
        output: [{ name: 'c', type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 2 }] } } } }],
      },
    };
    const p = join(t.dir, 'add.onnx');
    writeFileSync(p, encodeModel(model as never));
    const r = await cli(['inspect', p]);
    expect(r.code).toBe(ExitCode.input);
    expect(r.stderr).toContain('is not a LLaMA-family graph that llm-bip recognises');
    expect(r.stderr).toContain('Re-export the model with `llm-bip export`');
  });
});
