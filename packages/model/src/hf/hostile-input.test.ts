/** Hostile or corrupt checkpoints: every claim is checked against the bytes, with a clear error. */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir, writeTinyHfCheckpoint } from '@llm-bip/testing';
import { HfCheckpointError, normaliseHfConfig, readHfConfig } from './config.js';
import { SafetensorsCheckpoint, SafetensorsError, readSafetensorsHeader } from './safetensors.js';
import { checkCheckpointMatchesConfig } from './weights.js';

const tmp = tempDir('llm-bip-hostile-hf-');
afterAll(tmp.cleanup);
let n = 0;

/** A safetensors file with the given header and `dataBytes` bytes of data. */
function safetensors(header: unknown, dataBytes: number): string {
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  const path = join(tmp.dir, `t${n++}.safetensors`);
  writeFileSync(path, Buffer.concat([len, json, Buffer.alloc(dataBytes)]));
  return path;
}

describe('safetensors header claims', () => {
  it('a null header entry is a SafetensorsError naming the tensor, not a TypeError', async () => {
    await expect(readSafetensorsHeader(safetensors({ w: null }, 0))).rejects.toThrow(SafetensorsError);
    await expect(readSafetensorsHeader(safetensors({ w: null }, 0))).rejects.toThrow(/tensor "w" has header entry null/);
  });

  it('overlapping data_offsets are refused', async () => {
    const f = safetensors({ a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] }, b: { dtype: 'F32', shape: [4], data_offsets: [8, 24] } }, 24);
    await expect(readSafetensorsHeader(f)).rejects.toThrow(/"b" \[8, 24\) overlaps "a"/);
  });

  it('negative or fractional dims, and offsets past the data, are refused', async () => {
    await expect(readSafetensorsHeader(safetensors({ a: { dtype: 'F32', shape: [-1], data_offsets: [0, 0] } }, 0))).rejects.toThrow(/not a non-negative integer/);
    await expect(readSafetensorsHeader(safetensors({ a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, 8))).rejects.toThrow(/"a" ends at byte \d+ but the file has \d+ bytes: the file is truncated/);
    await expect(readSafetensorsHeader(safetensors({ a: { dtype: 'F32', shape: 'x', data_offsets: [0, 16] } }, 16))).rejects.toThrow(/has shape "x"/);
  });

  it('a well-formed header still reads', async () => {
    const { entries } = await readSafetensorsHeader(safetensors({ a: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] }, __metadata__: { format: 'pt' } }, 16));
    expect(entries.map((e) => [e.name, e.byteLength])).toEqual([['a', 16]]);
  });
});

describe('config.json vs the checkpoint', () => {
  const shape = { seed: 1, hiddenSize: 16, numLayers: 3, numHeads: 2, numKvHeads: 2, intermediateSize: 32, vocabSize: 40 };

  it('num_hidden_layers: 1e9 is refused with the limit, before anything is sized from it', () => {
    const c = { model_type: 'llama', hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1e9, num_attention_heads: 2, vocab_size: 40 };
    expect(() => normaliseHfConfig(c)).toThrow(HfCheckpointError);
    expect(() => normaliseHfConfig(c)).toThrow(/"num_hidden_layers" is 1000000000, over the limit of 1024/);
  });

  it('a config with fewer layers than the weights is refused, not silently truncated', async () => {
    const dir = join(tmp.dir, 'ckpt');
    mkdirSync(dir);
    await writeTinyHfCheckpoint(shape, dir, 'float32');
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, num_hidden_layers: 2 }));
    const ckpt = await SafetensorsCheckpoint.open(dir);
    try {
      expect(() => checkCheckpointMatchesConfig(ckpt, readHfConfig(dir), dir)).toThrow(/hold layer 2 but config.json says num_hidden_layers = 2/);
    } finally {
      await ckpt.close();
    }
  });
});
