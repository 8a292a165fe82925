import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fixtures, runReadmeExample, shared, tempDir } from '@llm-bip/testing';
import { afterAll, describe, expect, it } from 'vitest';

const tmp = tempDir('pipeline-readme-');
afterAll(tmp.cleanup);

describe('README', () => {
  it('runs the example: prune-llm as one function call on the tiny test-bed model', async () => {
    const here = dirname(fileURLToPath(import.meta.url));
    const onnx = join(tmp.dir, 'dense', 'model.onnx');
    mkdirSync(dirname(onnx), { recursive: true });
    const { exportLlamaToOnnx } = await import('@llm-bip/model');
    await exportLlamaToOnnx(fixtures.tinyHf, onnx, { dtype: 'float32', kvCache: false });
    const lines = await runReadmeExample(here, [
      ["'@llm-bip/pipeline'", JSON.stringify(join(here, 'index.js'))],
      ["'@llm-bip/eval'", JSON.stringify(join(here, '../../eval/src/index.js'))],
      ["loadModelInput('model.onnx')", `loadModelInput(${JSON.stringify(onnx)})`],
      ["loadTokenizer('hf-model-folder')", `loadTokenizer(${JSON.stringify(fixtures.tinyHf)})`],
      ["{ dataDir: 'shared/data', samples", `{ dataDir: ${JSON.stringify(shared('data'))}, samples`],
      ["limit: 4, dataDir: 'shared/data'", `limit: 4, dataDir: ${JSON.stringify(shared('data'))}, cacheDir: ${JSON.stringify(join(tmp.dir, 'cache'))}`],
      ["'pruned/model.onnx'", JSON.stringify(join(tmp.dir, 'pruned.onnx'))],
    ]);
    expect(lines[0]).toMatch(/^llm-bip, global-kind, removed (19|20|21)\.\d %$/);
    const m = /^ptb: dense ([\d.]+), pruned ([\d.]+)$/.exec(lines[1]!);
    expect(m).not.toBeNull();
    // pruning 20 % costs perplexity; both are finite, plausible numbers for a small trained model
    expect(Number(m![2])).toBeGreaterThan(Number(m![1]));
    expect(Number(m![1])).toBeGreaterThan(1);
    expect(lines[2]).toBe('defaults: llm-bip, 128 x 128 tokens');
  }, 600_000);
});
