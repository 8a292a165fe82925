/** The test-bed checkpoints exported by our exporter are recognised as their config.json says. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixtures, tempDir } from '@llm-bip/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { exportLlamaToOnnx } from '../export/index.js';
import { loadModel } from '@llm-bip/onnx-io';
import { describeSpec } from './describe.js';
import { recogniseModel } from './recognise.js';
import { checkSpec } from './spec-check.testutil.js';

const dir = tempDir('llm-bip-recognise-testbed-');
afterAll(dir.cleanup);

describe('llm-bip export of the test-bed models, then recognise', () => {
  it.each([
    ['bip-llama-tiny', fixtures.tinyHf],
    ['bip-llama-small', fixtures.smallHf],
  ])('%s', async (name, hfDir) => {
    const hf = JSON.parse(readFileSync(join(hfDir, 'config.json'), 'utf8'));
    const out = join(dir.dir, `${name}.onnx`);
    await exportLlamaToOnnx(hfDir, out, { dtype: 'float16', kvCache: true });
    const { model, dir: modelDir } = await loadModel(out);
    const spec = recogniseModel(model, { modelDir });
    expect(spec.recogniser).toBe('llm-bip-export');
    expect(spec.weightType).toBe('float16');
    expect(spec.kvCache).toBe(true);
    checkSpec(model, spec, {
      numLayers: hf.num_hidden_layers,
      hiddenSize: hf.hidden_size,
      numHeads: hf.num_attention_heads,
      numKvHeads: hf.num_key_value_heads,
      headDim: hf.head_dim ?? hf.hidden_size / hf.num_attention_heads,
      intermediateSize: hf.intermediate_size,
      vocabSize: hf.vocab_size,
      rmsNormEps: hf.rms_norm_eps,
    });
    // parameter count from the safetensors header, independently of the spec
    const st = readFileSync(join(hfDir, 'model.safetensors'));
    const header = JSON.parse(st.subarray(8, 8 + Number(st.readBigUInt64LE(0))).toString('utf8'));
    const params = Object.entries(header)
      .filter(([k]) => k !== '__metadata__')
      .reduce((a, [, v]) => a + (v as { shape: number[] }).shape.reduce((x, y) => x * y, 1), 0);
    expect(describeSpec(spec).parameters.total).toBe(params);
  }, 120_000);
});
