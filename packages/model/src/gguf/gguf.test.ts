import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readGgufHeader, readGgufTensor } from '@llm-bip/gguf';
import { loadModel } from '@llm-bip/onnx-io';
import { mulberry32, syntheticTokenizerJson, tempDir, writeTinyHfCheckpoint } from '@llm-bip/testing';
import { exportLlamaToOnnx } from '../export/export.js';
import { recogniseModel } from '../recognise/index.js';
import type { ModelSpec } from '../spec.js';
import { architectureFor, hyperparameters } from './architecture.js';
import { exportGguf, planGgufExport } from './export-gguf.js';

import { sourceRow } from './tensors.js';
import { TokenType, vocabFromTokenizerJson } from './tokenizer.js';

const tmp = tempDir('llm-bip-gguf-export-');
afterAll(tmp.cleanup);

describe('Q/K rope permutation', () => {
  it('rotating halves of the HF rows equals rotating adjacent pairs of the permuted rows (float64, random vector)', () => {
    const hd = 8;
    const rand = mulberry32(3);
    const q = Array.from({ length: 2 * hd }, () => rand() - 0.5); // two heads
    const pos = 5;
    const theta = (i: number) => pos / 10000 ** ((2 * i) / hd);
    // HF rotate_half: pairs (j, j + hd/2)
    const hf = q.slice();
    for (let h = 0; h < 2; h++)
      for (let j = 0; j < hd / 2; j++) {
        const [a, b] = [q[h * hd + j]!, q[h * hd + j + hd / 2]!];
        hf[h * hd + j] = a * Math.cos(theta(j)) - b * Math.sin(theta(j));
        hf[h * hd + j + hd / 2] = b * Math.cos(theta(j)) + a * Math.sin(theta(j));
      }
    // ggml normal rope on the permuted vector: pairs (2j, 2j + 1)
    const permuted = q.map((_, r) => q[sourceRow(r, hd)]!);
    const ggml = permuted.slice();
    for (let h = 0; h < 2; h++)
      for (let j = 0; j < hd / 2; j++) {
        const [a, b] = [permuted[h * hd + 2 * j]!, permuted[h * hd + 2 * j + 1]!];
        ggml[h * hd + 2 * j] = a * Math.cos(theta(j)) - b * Math.sin(theta(j));
        ggml[h * hd + 2 * j + 1] = b * Math.cos(theta(j)) + a * Math.sin(theta(j));
      }
    // un-permuting the ggml result gives the HF result: q.k products are unchanged by the permutation
    ggml.forEach((v, r) => expect(v).toBeCloseTo(hf[sourceRow(r, hd)]!, 12));
    expect(Array.from({ length: hd }, (_, r) => sourceRow(r, hd))).toEqual([0, 4, 1, 5, 2, 6, 3, 7]);
  });
});

describe('tokenizer.json -> tokenizer.ggml.*', () => {
  const get = (m: ReturnType<typeof vocabFromTokenizerJson>['metadata'], key: string) => m.find(([k]) => k === key)?.[1].value;

  it('maps a Metaspace BPE with byte fallback: merge ranks as scores, token types, special ids, unused padding rows', () => {
    const v = vocabFromTokenizerJson(syntheticTokenizerJson(272), {}, 275);
    expect(get(v.metadata, 'tokenizer.ggml.model')).toBe('llama');
    const tokens = get(v.metadata, 'tokenizer.ggml.tokens') as string[];
    expect(tokens.slice(0, 4)).toEqual(['<unk>', '<s>', '</s>', '<0x00>']);
    expect(tokens[259]).toBe('▁');
    expect(tokens.slice(272)).toEqual(['[PAD272]', '[PAD273]', '[PAD274]']);
    const scores = get(v.metadata, 'tokenizer.ggml.scores') as number[];
    // merges: ▁a (rank 0) > ab (1) > ▁ab (2) > cd (3) > ▁cd (4) > anything no merge makes
    const score = (p: string) => scores[tokens.indexOf(p)]!;
    expect([score('▁a'), score('ab'), score('▁ab'), score('cd'), score('▁cd')]).toEqual([-1, -2, -3, -4, -5]);
    expect(score('a')).toBeLessThan(score('▁cd'));
    const types = get(v.metadata, 'tokenizer.ggml.token_type') as number[];
    expect([types[0], types[1], types[3 + 10], types[259], types[274]]).toEqual([TokenType.UNKNOWN, TokenType.CONTROL, TokenType.BYTE, TokenType.NORMAL, TokenType.UNUSED]);
    expect(get(v.metadata, 'tokenizer.ggml.bos_token_id')).toBe(1);
    expect(get(v.metadata, 'tokenizer.ggml.eos_token_id')).toBe(2);
    expect(get(v.metadata, 'tokenizer.ggml.add_bos_token')).toBe(true); // from the post-processor template
    expect(get(v.metadata, 'tokenizer.ggml.add_space_prefix')).toBe(true);
  });

  it("reads LLaMA-2's normalizer form and prepend_scheme never; tokenizer_config.json wins for add_bos", () => {
    const llama2 = { ...syntheticTokenizerJson(272), pre_tokenizer: null, normalizer: { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '▁' }, { type: 'Replace', pattern: { String: ' ' }, content: '▁' }] } };
    expect(get(vocabFromTokenizerJson(llama2, { add_bos_token: false }, 272).metadata, 'tokenizer.ggml.add_bos_token')).toBe(false);
    expect(get(vocabFromTokenizerJson(llama2, {}, 272).metadata, 'tokenizer.ggml.add_space_prefix')).toBe(true);
    const never = { ...syntheticTokenizerJson(272), pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'never' } };
    expect(get(vocabFromTokenizerJson(never, {}, 272).metadata, 'tokenizer.ggml.add_space_prefix')).toBe(false);
  });

  it('refuses byte-level BPE and a tokenizer larger than the embedding, naming the way out', () => {
    const byteLevel = { ...syntheticTokenizerJson(272), pre_tokenizer: { type: 'ByteLevel' }, model: { ...(syntheticTokenizerJson(272).model as object), byte_fallback: false } };
    expect(() => vocabFromTokenizerJson(byteLevel, {}, 272)).toThrow(/byte-level BPE .*convert_hf_to_gguf\.py/);
    expect(() => vocabFromTokenizerJson(syntheticTokenizerJson(272), {}, 8)).toThrow(/272 tokens but the model's embedding has 8 rows/);
    const noNewline = syntheticTokenizerJson(272);
    const vocab = (noNewline.model as { vocab: Record<string, number> }).vocab;
    delete vocab['<0x0A>'];
    vocab['▁newline'] = 13;
    expect(() => vocabFromTokenizerJson(noNewline, {}, 272)).toThrow(/byte token <0x0A> is missing/);
  });
});

describe('architecture choice', () => {
  const spec = (widths: Array<[number, number, number]>) =>
    ({ numLayers: widths.length, hiddenSize: 64, vocabSize: 32, rmsNormEps: 1e-5, layers: widths.map(([h, kv, f], index) => ({ index, numHeads: h, numKvHeads: kv, headDim: 16, intermediateSize: f })) }) as unknown as ModelSpec;
  const rope = { ropeTheta: 10000, ropeScaling: { kind: 'default' as const }, contextLength: 256 };

  it('uniform layers are `llama` with scalar counts; per-layer widths are `deci` with arrays', () => {
    const uniform = spec([[4, 2, 96], [4, 2, 96]]);
    expect(architectureFor(uniform)).toBe('llama');
    const hp = new Map(hyperparameters(uniform, 'llama', rope));
    expect(hp.get('llama.attention.head_count')).toEqual({ type: 'u32', value: 4 });
    expect(hp.get('llama.attention.key_length')).toEqual({ type: 'u32', value: 16 });
    const uneven = spec([[4, 2, 96], [2, 1, 40]]);
    expect(architectureFor(uneven)).toBe('deci');
    const dhp = new Map(hyperparameters(uneven, 'deci', rope));
    expect(dhp.get('deci.attention.head_count')).toEqual({ type: 'array', of: 'u32', value: [4, 2] });
    expect(dhp.get('deci.attention.head_count_kv')).toEqual({ type: 'array', of: 'u32', value: [2, 1] });
    expect(dhp.get('deci.feed_forward_length')).toEqual({ type: 'array', of: 'u32', value: [96, 40] });
  });
});

describe('exportGguf on a tiny random model', () => {
  it('writes every tensor by role (tied embeddings: no output), llama3 rope factors, and refuses a missing tokenizer before writing', async () => {
    const hf = join(tmp.dir, 'hf');
    const shape = { seed: 4, hiddenSize: 32, numLayers: 2, numHeads: 4, numKvHeads: 2, intermediateSize: 48, vocabSize: 272, tieEmbeddings: true, ropeScaling: { kind: 'llama3' as const, factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 32 } };
    await writeTinyHfCheckpoint(shape, hf, 'float32');
    const dir = join(tmp.dir, 'onnx');
    mkdirSync(dir);
    const onnx = join(dir, 'model.onnx');
    await exportLlamaToOnnx(hf, onnx, { dtype: 'float32', kvCache: false });
    const loaded = await loadModel(onnx);
    const spec = recogniseModel(loaded.model, { modelDir: loaded.dir, source: onnx });

    expect(() => planGgufExport({ loaded, spec })).toThrow(/tokenizer\.json not found/);
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(syntheticTokenizerJson(272)));
    const out = join(dir, 'tiny.gguf');
    const res = await exportGguf({ loaded, spec }, out, { dtype: 'f32' });
    const file = await readGgufHeader(out);
    const names = file.tensors.map((t) => t.name);
    expect(names).not.toContain('output.weight');
    expect(names).toContain('rope_freqs.weight');
    expect(names.filter((n) => n.startsWith('blk.1.'))).toEqual(['attn_norm', 'attn_q', 'attn_k', 'attn_v', 'attn_output', 'ffn_norm', 'ffn_gate', 'ffn_up', 'ffn_down'].map((n) => `blk.1.${n}.weight`));
    expect(file.tensors.find((t) => t.name === 'blk.0.attn_k.weight')?.shape).toEqual([2 * 8, 32]);
    expect(res.tensors).toBe(file.tensors.length);

    // V is not permuted: GGUF row r of attn_v is column r of the ONNX [in, out] weight
    const v = await readGgufTensor(file, 'blk.0.attn_v.weight');
    const w = spec.layers[0]!.v;
    const onnxV = loaded.model.graph!.initializer!.find((t) => t.name === w.weight)!;
    const { readTensorAsFloat32 } = await import('@llm-bip/onnx-io');
    const data = await readTensorAsFloat32(onnxV, loaded.dir);
    for (const [r, i] of [[0, 0], [5, 7], [15, 31]] as const) expect(v[r * 32 + i]).toBe(data[i * 16 + r]);
    // llama3 factors: 1 for the shortest wavelengths, `factor` for the longest
    const factors = await readGgufTensor(file, 'rope_freqs.weight');
    expect(factors[0]).toBeCloseTo(1, 6);
    expect(factors[factors.length - 1]).toBeCloseTo(8, 5);
  });
});
