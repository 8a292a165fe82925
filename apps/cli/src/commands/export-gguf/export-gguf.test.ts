import { copyFileSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readGgufHeader } from '@llm-bip/gguf';
import { exportLlamaToOnnx } from '@llm-bip/model';
import { syntheticTokenizerJson, tempDir, writeTinyHfCheckpoint } from '@llm-bip/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../errors.js';
import { cli } from '../../capture.testutil.js';

const t = tempDir('llm-bip-cli-export-gguf-');
const modelDir = join(t.dir, 'model');
const onnx = join(modelDir, 'model.onnx');
beforeAll(async () => {
  const hf = join(t.dir, 'hf');
  await writeTinyHfCheckpoint({ seed: 1, hiddenSize: 32, numLayers: 2, numHeads: 4, numKvHeads: 2, intermediateSize: 48, vocabSize: 272 }, hf, 'float32');
  mkdirSync(modelDir);
  await exportLlamaToOnnx(hf, onnx, { dtype: 'float32', kvCache: false });
  writeFileSync(join(modelDir, 'tokenizer.json'), JSON.stringify(syntheticTokenizerJson(272)));
});
afterAll(() => t.cleanup());

describe('llm-bip export-gguf', () => {
  it('writes the GGUF file and reports it as JSON', async () => {
    const out = join(t.dir, 'out', 'sub', 'tiny.gguf');
    const r = await cli(['export-gguf', onnx, '-o', out, '--dtype', 'q8_0', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.result).toMatchObject({ output: out, architecture: 'llama', dtype: 'q8_0', layers: 2, heads: [4, 4], kvHeads: [2, 2], ffn: [48, 48] });
    // ffn_down rows are 48 values: not whole Q8_0 blocks, so they stay f16
    expect(doc.result.f16Fallbacks).toEqual(['blk.0.ffn_down.weight', 'blk.1.ffn_down.weight']);
    const file = await readGgufHeader(out);
    expect(file.fileSize).toBe(doc.result.bytes);
    expect(file.metadata.get('general.file_type')?.value).toBe(7);
    expect(readdirSync(join(t.dir, 'out', 'sub'))).toEqual(['tiny.gguf']);
  });

  it('an unsupported tokenizer is an input error before anything is written', async () => {
    const dir = join(t.dir, 'bytelevel');
    mkdirSync(dir);
    for (const f of readdirSync(modelDir).filter((f) => f.startsWith('model.onnx'))) copyFileSync(join(modelDir, f), join(dir, f));
    const tok = syntheticTokenizerJson(272);
    (tok.model as Record<string, unknown>).byte_fallback = false;
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tok));
    const outDir = join(t.dir, 'never');
    const r = await cli(['export-gguf', join(dir, 'model.onnx'), '-o', join(outDir, 'm.gguf')]);
    expect(r.code).toBe(ExitCode.input);
    expect(r.stderr).toMatch(/^llm-bip: error: .*tokenizer\.json: BPE without byte_fallback .*convert_hf_to_gguf\.py/);
    expect(existsSync(outDir)).toBe(false);
  });

  it('usage errors: no -o, not .gguf, unknown --dtype', async () => {
    expect((await cli(['export-gguf', onnx])).stderr).toContain('missing -o OUT.gguf');
    const notGguf = await cli(['export-gguf', onnx, '-o', join(t.dir, 'x.onnx')]);
    expect(notGguf.code).toBe(ExitCode.usage);
    expect(notGguf.stderr).toContain('must end in .gguf');
    const dtype = await cli(['export-gguf', onnx, '-o', join(t.dir, 'x.gguf'), '--dtype', 'q4_k']);
    expect(dtype.code).toBe(ExitCode.usage);
    expect(dtype.stderr).toMatch(/--dtype.*f32.*f16.*bf16.*q8_0/);
  });
});
