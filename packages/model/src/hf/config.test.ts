import { afterAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixtures, tempDir } from '@llm-bip/testing';
import { HfCheckpointError, normaliseHfConfig, readHfConfig, toHfConfigJson } from './config.js';

const tmp = tempDir('llm-bip-hfconfig-');
afterAll(() => tmp.cleanup());

// A transformers 4.x LLaMA-2-7B style config: top-level rope_theta, torch_dtype, no head_dim / kv heads.
const v4 = {
  architectures: ['LlamaForCausalLM'],
  model_type: 'llama',
  hidden_size: 4096,
  intermediate_size: 11008,
  num_attention_heads: 32,
  num_hidden_layers: 32,
  rms_norm_eps: 1e-5,
  rope_scaling: null,
  tie_word_embeddings: false,
  torch_dtype: 'float16',
  vocab_size: 32000,
  max_position_embeddings: 4096,
  hidden_act: 'silu',
  transformers_version: '4.31.0',
};

describe('readHfConfig', () => {
  it('reads the transformers 5 layout of the test-bed model', () => {
    const c = readHfConfig(fixtures.tinyHf);
    expect(c).toMatchObject({
      hiddenSize: 256,
      numLayers: 6,
      numHeads: 8,
      numKvHeads: 8,
      headDim: 32,
      intermediateSize: 704,
      vocabSize: 8192,
      rmsNormEps: 1e-5,
      ropeTheta: 10000,
      ropeScaling: { kind: 'default' },
      tieWordEmbeddings: false,
      torchDtype: 'float16',
    });
  });

  it('transformers 4 layout: defaults for kv heads, head_dim and rope_theta; torch_dtype', () => {
    const c = normaliseHfConfig(v4);
    expect(c.numKvHeads).toBe(32);
    expect(c.headDim).toBe(128);
    expect(c.ropeTheta).toBe(10000);
    expect(c.torchDtype).toBe('float16');
    expect(normaliseHfConfig({ ...v4, rope_theta: 500000, num_key_value_heads: 8 })).toMatchObject({ ropeTheta: 500000, numKvHeads: 8 });
  });

  it('transformers 5 rope_parameters win; linear scaling is read from either layout', () => {
    const v5 = { ...v4, torch_dtype: undefined, dtype: 'bfloat16', rope_parameters: { rope_type: 'linear', rope_theta: 20000, factor: 2 } };
    expect(normaliseHfConfig(v5)).toMatchObject({ ropeTheta: 20000, ropeScaling: { kind: 'linear', factor: 2 }, torchDtype: 'bfloat16' });
    expect(normaliseHfConfig({ ...v4, rope_scaling: { type: 'linear', factor: 4 } }).ropeScaling).toEqual({ kind: 'linear', factor: 4 });
  });

  it('llama3 rope scaling from transformers 4 rope_scaling and 5 rope_parameters', () => {
    const llama3 = { factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 };
    const want = { kind: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 };
    expect(normaliseHfConfig({ ...v4, rope_theta: 500000, rope_scaling: { ...llama3, rope_type: 'llama3' } })).toMatchObject({ ropeTheta: 500000, ropeScaling: want });
    expect(normaliseHfConfig({ ...v4, rope_parameters: { ...llama3, rope_type: 'llama3', rope_theta: 500000 } }).ropeScaling).toEqual(want);
    expect(() => normaliseHfConfig({ ...v4, rope_scaling: { rope_type: 'llama3', factor: 8 } })).toThrow(/llama3 rope scaling needs a positive "low_freq_factor"/);
    expect(() => normaliseHfConfig({ ...v4, partial_rotary_factor: 0.5 })).toThrow(/partial_rotary_factor 0.5 is not supported/);
  });

  it('round-trips through toHfConfigJson', () => {
    const c = normaliseHfConfig({ ...v4, num_key_value_heads: 8, head_dim: 64, tie_word_embeddings: true });
    expect(normaliseHfConfig(toHfConfigJson(c))).toEqual(c);
    const l3 = { ...c, ropeScaling: { kind: 'llama3' as const, factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 } };
    expect(normaliseHfConfig(toHfConfigJson(l3))).toEqual(l3);
  });

  it('refuses what the exporter cannot do, naming the key', () => {
    expect(() => normaliseHfConfig({ ...v4, model_type: 'gpt2' })).toThrow(/model_type is "gpt2"; supported: "llama", "mistral"/);
    expect(() => normaliseHfConfig({ ...v4, rope_scaling: { rope_type: 'yarn', factor: 4 } })).toThrow(/rope scaling type "yarn" is not supported/);
    expect(() => normaliseHfConfig({ ...v4, num_key_value_heads: 5 })).toThrow(/not a multiple of num_key_value_heads/);
    expect(() => normaliseHfConfig({ ...v4, attention_bias: true })).toThrow(/attention_bias=true/);
    expect(() => normaliseHfConfig({ ...v4, hidden_size: undefined })).toThrow(/"hidden_size" must be a positive integer/);
  });

  it('families: each model_type gives its traits; MoE, Gemma 2/3 and partial sliding windows are refused naming what is missing', () => {
    const base = { ...v4, num_key_value_heads: 8, head_dim: 128 };
    expect(normaliseHfConfig({ ...base, model_type: 'llama' })).toMatchObject({ modelType: 'llama', qkvBias: false, qkNorm: false, fusedCheckpoint: false, normOffset: 0, embeddingScale: 1, hiddenAct: 'silu', slidingWindow: undefined });
    expect(normaliseHfConfig({ ...base, model_type: 'mistral', sliding_window: 4096 })).toMatchObject({ modelType: 'mistral', slidingWindow: 4096 });
    expect(normaliseHfConfig({ ...base, model_type: 'mistral', sliding_window: null }).slidingWindow).toBeUndefined();
    expect(normaliseHfConfig({ ...base, model_type: 'qwen2', sliding_window: 4096, use_sliding_window: false })).toMatchObject({ qkvBias: true, slidingWindow: undefined });
    expect(normaliseHfConfig({ ...base, model_type: 'qwen3' })).toMatchObject({ qkvBias: false, qkNorm: true });
    expect(normaliseHfConfig({ ...base, model_type: 'qwen3', attention_bias: true }).qkvBias).toBe(true);
    expect(normaliseHfConfig({ ...base, model_type: 'phi3', sliding_window: 2047 })).toMatchObject({ fusedCheckpoint: true, slidingWindow: 2047 });
    const gemma = normaliseHfConfig({ ...base, model_type: 'gemma', hidden_act: 'gelu', hidden_activation: 'gelu_pytorch_tanh', tie_word_embeddings: undefined });
    expect(gemma).toMatchObject({ normOffset: 1, embeddingScale: Math.sqrt(4096), hiddenAct: 'gelu_tanh', tieWordEmbeddings: true });
    // every family round-trips through the config.json we write
    for (const t of ['llama', 'mistral', 'qwen2', 'qwen3', 'phi3', 'gemma']) {
      const c = normaliseHfConfig({ ...base, model_type: t, ...(t === 'qwen2' || t === 'qwen3' ? {} : { sliding_window: 64 }) });
      expect(normaliseHfConfig(toHfConfigJson(c))).toEqual(c);
    }
    expect(() => normaliseHfConfig({ ...base, model_type: 'mixtral', num_local_experts: 8 })).toThrow(/"mixtral" is not supported: it has a mixture-of-experts MLP/);
    expect(() => normaliseHfConfig({ ...base, model_type: 'qwen2_moe' })).toThrow(/mixture-of-experts/);
    expect(() => normaliseHfConfig({ ...base, num_local_experts: 4 })).toThrow(/num_local_experts = 4 marks a mixture-of-experts model/);
    expect(() => normaliseHfConfig({ ...base, model_type: 'gemma2' })).toThrow(/soft-capping.*Gemma 1 only/);
    expect(() => normaliseHfConfig({ ...base, model_type: 'gemma3_text' })).toThrow(/sandwich norms/);
    expect(() => normaliseHfConfig({ ...base, model_type: 'qwen2', use_sliding_window: true, sliding_window: 4096 })).toThrow(/use_sliding_window=true is not supported/);
    expect(() => normaliseHfConfig({ ...base, model_type: 'gemma', hidden_activation: 'gelu' })).toThrow(/hidden_activation "gelu" is not supported/);
    expect(() => normaliseHfConfig({ ...base, model_type: 'phi3', rope_scaling: { type: 'longrope', short_factor: [1], long_factor: [1] } })).toThrow(/rope scaling type "longrope" is not supported/);
  });

  it('missing or broken config.json is a HfCheckpointError naming the path', () => {
    expect(() => readHfConfig(join(tmp.dir, 'nowhere'))).toThrow(HfCheckpointError);
    expect(() => readHfConfig(join(tmp.dir, 'nowhere'))).toThrow(/config\.json not found/);
    writeFileSync(join(tmp.dir, 'config.json'), '{"model_type": "llama",');
    expect(() => readHfConfig(tmp.dir)).toThrow(/not valid JSON/);
  });
});
