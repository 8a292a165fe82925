/** The context length is found without loading the model, and sequence options beyond it are refused. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildTinyLlama, tempDir } from '@llm-bip/testing';
import { ContextLengthError, checkWithinContext, contextLengthOf } from './config.js';

const tmp = tempDir('llm-bip-context-');
afterAll(tmp.cleanup);

describe('context length', () => {
  it("an exported .onnx carries it (metadata), a checkpoint folder's config.json says it", async () => {
    const tiny = await buildTinyLlama(
      { seed: 1, hiddenSize: 8, numLayers: 1, numHeads: 2, numKvHeads: 2, intermediateSize: 8, vocabSize: 16 },
      { dir: join(tmp.dir, 'm'), dtype: 'float32', kvCache: false },
    );
    expect(contextLengthOf(tiny.onnxPath)?.tokens).toBe(tiny.config.maxPositionEmbeddings);
    expect(contextLengthOf(tiny.hfDir)?.tokens).toBe(tiny.config.maxPositionEmbeddings);
    const junk = join(tmp.dir, 'junk.onnx');
    writeFileSync(junk, 'not a model');
    expect(contextLengthOf(junk)).toBeUndefined();
  });

  it('a length beyond the context is a usage error naming the limit and where it comes from', () => {
    expect(() => checkWithinContext('--prompt', 100000, { tokens: 2048, source: 'config.json' })).toThrow(ContextLengthError);
    expect(() => checkWithinContext('--prompt', 100000, { tokens: 2048, source: 'config.json' })).toThrow(/--prompt asks for 100000 tokens, beyond the model's context of 2048 \(config.json\): use at most 2048/);
    expect(() => checkWithinContext('--prompt', 2048, { tokens: 2048, source: 'config.json' })).not.toThrow();
  });
});
