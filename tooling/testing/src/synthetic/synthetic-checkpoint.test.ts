import { afterAll, describe, expect, it } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { checkCheckpointMatchesConfig, exportLlamaToOnnx, readHfConfig, recogniseModel, SafetensorsCheckpoint } from '@llm-bip/model';
import { loadModel } from '@llm-bip/onnx-io';
import { repoRoot, tempDir } from '../index.js';
import { normalQuantile, writeSyntheticCheckpoint } from './synthetic-checkpoint.js';

const tmp = tempDir('llm-bip-synthetic-');
afterAll(() => tmp.cleanup());
const tokenizerDir = join(repoRoot, 'apps/cli/demo/bip-llama-tiny');
// the Llama-3-8B head layout (32 heads / 8 KV heads, llama3 rope scaling) at a tiny width
const TINY = { hidden_size: 128, intermediate_size: 96, vocab_size: 8192 } as const;

describe('synthetic checkpoints', () => {
  it('normalQuantile matches known quantiles of N(0, 1)', () => {
    expect(normalQuantile(0.5)).toBeCloseTo(0, 12);
    expect(normalQuantile(0.975)).toBeCloseTo(1.959963985, 8);
    expect(normalQuantile(0.001)).toBeCloseTo(-3.090232306, 8);
  });

  it('a tiny llama3-8b-shaped checkpoint: sharded bf16 our HF reader accepts, N(0, 0.02) weights, norms 1, exported and recognised', async () => {
    const dir = join(tmp.dir, 'l3');
    const res = await writeSyntheticCheckpoint({ shape: 'llama3-8b', outDir: dir, layers: 2, overrides: TINY, maxShardBytes: 1.5e6, tokenizerDir, seed: 7 });
    expect(res.shards.length).toBeGreaterThan(2);
    expect(readdirSync(dir).sort()).toEqual(
      ['config.json', 'generation_config.json', 'model.safetensors.index.json', 'special_tokens_map.json', 'synthetic.json', 'tokenizer.json', 'tokenizer_config.json', ...res.shards].sort(),
    );
    const config = readHfConfig(dir);
    expect(config).toMatchObject({ numLayers: 2, hiddenSize: 128, numHeads: 32, numKvHeads: 8, headDim: 4, intermediateSize: 96, vocabSize: 8192, ropeTheta: 500000, torchDtype: 'bfloat16' });
    expect(config.ropeScaling).toEqual({ kind: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 });
    expect(readFileSync(join(dir, 'tokenizer.json'))).toEqual(readFileSync(join(tokenizerDir, 'tokenizer.json')));

    const ckpt = await SafetensorsCheckpoint.open(dir);
    try {
      checkCheckpointMatchesConfig(ckpt, config, dir);
      expect([...ckpt.entries.values()].every((e) => e.dtype === 'BF16')).toBe(true);
      const embed = await ckpt.readFloat32('model.embed_tokens.weight'); // 1 M draws
      const mean = embed.reduce((a, b) => a + b, 0) / embed.length;
      const std = Math.sqrt(embed.reduce((a, b) => a + (b - mean) ** 2, 0) / embed.length);
      // standard errors at 1 M draws: mean 2e-5, std 1.4e-5; bf16 rounding adds < 0.4 % relative noise per value
      expect(Math.abs(mean)).toBeLessThan(1e-4);
      expect(Math.abs(std - 0.02)).toBeLessThan(2e-4);
      expect(embed.reduce((a, b) => Math.max(a, Math.abs(b)), 0)).toBeLessThan(0.02 * 4.5); // tails end at the last quantile, 4.3 std
      expect([...(await ckpt.readFloat32('model.layers.1.input_layernorm.weight'))].every((v) => v === 1)).toBe(true);
      expect([...(await ckpt.readFloat32('model.norm.weight'))].every((v) => v === 1)).toBe(true);
    } finally {
      await ckpt.close();
    }

    const onnx = join(tmp.dir, 'l3.onnx');
    await exportLlamaToOnnx(dir, onnx, { dtype: 'float16', kvCache: false });
    const loaded = await loadModel(onnx);
    const spec = recogniseModel(loaded.model, { modelDir: loaded.dir, source: onnx });
    expect(spec.numLayers).toBe(2);
    expect(spec.layers[0]).toMatchObject({ numHeads: 32, numKvHeads: 8, headDim: 4, intermediateSize: 96 });
  });

  it('each tensor has its own seeded stream: fewer layers give the same first layers; another seed differs', async () => {
    const one = await writeSyntheticCheckpoint({ shape: 'llama2-7b', outDir: join(tmp.dir, 'l2-1'), layers: 1, overrides: TINY, tokenizerDir });
    const two = await writeSyntheticCheckpoint({ shape: 'llama2-7b', outDir: join(tmp.dir, 'l2-2'), layers: 2, overrides: TINY, tokenizerDir });
    const other = await writeSyntheticCheckpoint({ shape: 'llama2-7b', outDir: join(tmp.dir, 'l2-s1'), layers: 1, overrides: TINY, tokenizerDir, seed: 1 });
    expect(readHfConfig(two.dir)).toMatchObject({ numHeads: 32, numKvHeads: 32, ropeScaling: { kind: 'default' }, ropeTheta: 10000 });
    const read = async (dir: string, name: string) => {
      const c = await SafetensorsCheckpoint.open(dir);
      try {
        return Buffer.from(await c.readBytes(name));
      } finally {
        await c.close();
      }
    };
    for (const name of ['model.layers.0.self_attn.q_proj.weight', 'model.layers.0.mlp.down_proj.weight', 'lm_head.weight']) {
      expect((await read(one.dir, name)).equals(await read(two.dir, name)), name).toBe(true);
      expect((await read(one.dir, name)).equals(await read(other.dir, name)), name).toBe(false);
    }
  });

  it('refuses an existing folder and a missing tokenizer before writing anything', async () => {
    await expect(writeSyntheticCheckpoint({ shape: 'tinyllama-1.1b', outDir: tmp.dir, tokenizerDir })).rejects.toThrow(/already exists: remove it or choose another --out/);
    const out = join(tmp.dir, 'no-tok');
    await expect(writeSyntheticCheckpoint({ shape: 'tinyllama-1.1b', outDir: out, tokenizerDir: tmp.dir })).rejects.toThrow(/no tokenizer.json in .*pass --tokenizer DIR/);
    expect(readdirSync(tmp.dir)).not.toContain('no-tok');
  });
});
