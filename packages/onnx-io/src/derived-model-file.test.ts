import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { tempDir, buildTinyLlama } from '@llm-bip/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { writeDerivedModelFile } from './derived-model-file.js';
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

  it('external data: no file at all; the bytes and the folder to read the weights from, for the runtime', async () => {
    const { onnxPath } = await buildTinyLlama(SHAPE, { dir: join(tmp.dir, 'external'), dtype: 'float32', kvCache: false, externalData: true });
    const loaded = await loadModel(onnxPath);
    const listing = readdirSync(loaded.dir).sort();
    const file = await writeDerivedModelFile(loaded.model, loaded.dir, { prefix: '.llm-bip-test-', fileName: 'probe.onnx' });
    expect(file.placement).toBe('memory');
    expect(file.externalDataDir).toBe(loaded.dir);
    expect(existsSync(file.path)).toBe(false);
    expect(dirname(file.path)).toBe(loaded.dir); // config files beside the model are found through it
    expect(decodeModel(file.bytes!, 'derived').graph!.node!.length).toBe(loaded.model.graph!.node!.length);
    expect(readdirSync(loaded.dir).sort()).toEqual(listing);
    await file.cleanup();
  });

  it('temp folders of dead runs are removed when the next one is made; live ones are kept', async () => {
    const { onnxPath } = await buildTinyLlama(SHAPE, { dir: join(tmp.dir, 'inline2'), dtype: 'float32', kvCache: false, externalData: false });
    const loaded = await loadModel(onnxPath);
    const dead = Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout);
    const stale = join(tmpdir(), `llm-bip-test-stale-${dead}-abc123`);
    const prefix = `.llm-bip-test-stale-`;
    mkdirSync(stale);
    writeFileSync(join(stale, 'model.onnx'), 'left by a killed run');
    const live = join(tmpdir(), `llm-bip-test-stale-${process.ppid}-def456`);
    mkdirSync(live);
    try {
      const file = await writeDerivedModelFile(loaded.model, loaded.dir, { prefix });
      expect(existsSync(stale)).toBe(false);
      expect(existsSync(live)).toBe(true);
      expect(basename(dirname(file.path)).startsWith(`llm-bip-test-stale-${process.pid}-`)).toBe(true);
      await file.cleanup();
    } finally {
      rmSync(live, { recursive: true, force: true });
      rmSync(stale, { recursive: true, force: true });
    }
  });
});
