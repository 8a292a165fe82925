import { readdirSync, truncateSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel } from '@llm-bip/onnx-io';
import { writeTinyHfCheckpoint, tempDir } from '@llm-bip/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../errors.js';
import { cli } from '../../capture.testutil.js';

const t = tempDir('llm-bip-cli-export-');
const hf = join(t.dir, 'hf');
beforeAll(async () => {
  await writeTinyHfCheckpoint({ seed: 1, hiddenSize: 32, numLayers: 2, numHeads: 4, numKvHeads: 2, intermediateSize: 48, vocabSize: 64 }, hf, 'float32');
});
afterAll(() => t.cleanup());

describe('llm-bip export', () => {
  it('writes model + data with --external-data and reports the shape as JSON', async () => {
    const out = join(t.dir, 'a', 'tiny.onnx');
    const r = await cli(['export', hf, '-o', out, '--external-data', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.ok).toBe(true);
    expect(doc.result).toMatchObject({ output: out, dataFile: `${out}.data`, layers: 2, hiddenSize: 32, heads: 4, kvHeads: 2, intermediateSize: 48, vocabSize: 64, dtype: 'fp32', kvCache: false });
    expect(readdirSync(join(t.dir, 'a')).sort()).toEqual(['tiny.onnx', 'tiny.onnx.data']);
    expect(doc.result.bytes).toBe(statSync(out).size + statSync(`${out}.data`).size);
    const loaded = await loadModel(out);
    expect(loaded.model.graph?.initializer?.length).toBeGreaterThan(0);
  });

  it('a truncated checkpoint is an input error and leaves nothing behind', async () => {
    const broken = join(t.dir, 'broken');
    await writeTinyHfCheckpoint({ seed: 2, hiddenSize: 32, numLayers: 2, numHeads: 4, numKvHeads: 4, intermediateSize: 48, vocabSize: 64 }, broken, 'float32');
    const st = join(broken, 'model.safetensors');
    truncateSync(st, Math.floor(statSync(st).size / 2));
    const outDir = join(t.dir, 'b');
    const r = await cli(['export', broken, '-o', join(outDir, 'm.onnx')]);
    expect(r.code).toBe(ExitCode.input);
    expect(r.stderr).toMatch(/^llm-bip: error: .*model\.safetensors/);
    expect(readdirSync(t.dir)).not.toContain('b');
  });

  it('a folder without config.json is named', async () => {
    const r = await cli(['export', t.dir, '-o', join(t.dir, 'c.onnx')]);
    expect(r.code).toBe(ExitCode.input);
    expect(r.stderr).toContain('config.json');
  });

  it('-o must name an .onnx file', async () => {
    const r = await cli(['export', hf, '-o', join(t.dir, 'out')]);
    expect(r.code).toBe(ExitCode.usage);
    expect(r.stderr).toContain('must end in .onnx');
  });
});
