import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { tempDir, buildTinyLlama } from '@llm-bip/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { DerivedModelFileError, writeDerivedModelFile } from './derived-model-file.js';
import { loadModel } from './model-file.js';
import { decodeModel } from './proto/codec.js';

const tmp = tempDir('llm-bip-derived-');
afterAll(() => tmp.cleanup());
const SHAPE = { seed: 5, hiddenSize: 32, numLayers: 1, numHeads: 2, numKvHeads: 2, intermediateSize: 32, vocabSize: 32 };

describe('writeDerivedModelFile', () => {
  it('self-contained model: a temp folder named after the prefix, removed by cleanup', async () => {
    const { onnxPath } = await buildTinyLlama(SHAPE, { dir: join(tmp.dir, 'inline'), dtype: 'float32', kvCache: false, externalData: false });
    const loaded = await loadModel(onnxPath);
    const file = await writeDerivedModelFile(loaded.model, loaded.dir, { prefix: '.llm-bip-test-', fileName: 'x.onnx' });
    expect(file.placement).toBe('temp');
    expect(basename(file.path)).toBe('x.onnx');
    expect(basename(dirname(file.path))).toMatch(/^llm-bip-test-/); // no leading dot in temp folders
    expect(decodeModel(new Uint8Array(readFileSync(file.path)), file.path).graph!.node!.length).toBe(loaded.model.graph!.node!.length);
    await file.cleanup();
    expect(existsSync(dirname(file.path))).toBe(false);
  });

  it('external data: beside the model under the hidden prefix, or a hard-linked temp folder; both cleaned up', async () => {
    const { onnxPath } = await buildTinyLlama(SHAPE, { dir: join(tmp.dir, 'external'), dtype: 'float32', kvCache: false, externalData: true });
    const loaded = await loadModel(onnxPath);
    const hidden = () => readdirSync(loaded.dir).filter((f) => f.startsWith('.llm-bip-test-'));
    const beside = await writeDerivedModelFile(loaded.model, loaded.dir, { prefix: '.llm-bip-test-' });
    expect(beside.placement).toBe('beside');
    expect(dirname(beside.path)).toBe(loaded.dir);
    expect(hidden()).toEqual([basename(beside.path)]);
    await beside.cleanup();
    expect(hidden()).toEqual([]);

    const linked = await writeDerivedModelFile(loaded.model, loaded.dir, { prefix: '.llm-bip-test-', placement: 'linked' });
    expect(linked.placement).toBe('linked');
    const data = readdirSync(loaded.dir).filter((f) => f.endsWith('.data'));
    expect(data.length).toBeGreaterThan(0);
    for (const f of data) expect(readFileSync(join(dirname(linked.path), f)).equals(readFileSync(join(loaded.dir, f)))).toBe(true);
    await linked.cleanup();
    expect(existsSync(dirname(linked.path))).toBe(false);
  });

  it('a folder that cannot be written to, with placement beside, is a DerivedModelFileError naming it and the label', async () => {
    const { onnxPath } = await buildTinyLlama(SHAPE, { dir: join(tmp.dir, 'gone'), dtype: 'float32', kvCache: false, externalData: true });
    const loaded = await loadModel(onnxPath);
    const missing = join(tmp.dir, 'no-such-folder');
    const attempt = writeDerivedModelFile(loaded.model, missing, { prefix: '.llm-bip-test-', placement: 'beside', label: 'test model' });
    await expect(attempt).rejects.toThrow(DerivedModelFileError);
    await expect(writeDerivedModelFile(loaded.model, missing, { prefix: '.llm-bip-test-', placement: 'beside', label: 'test model' })).rejects.toThrow(
      new RegExp(`cannot place the test model: .*writing into ${missing} failed \\(ENOENT\\)`),
    );
  });
});
