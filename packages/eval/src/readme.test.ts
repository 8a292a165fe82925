import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fixtures, runReadmeExample, shared, tempDir } from '@llm-bip/testing';
import { afterAll, describe, expect, it } from 'vitest';

const cache = tempDir();
afterAll(() => cache.cleanup());

describe('README', () => {
  it('runs the example on the TorchScript fixture', async () => {
    const here = dirname(fileURLToPath(import.meta.url));
    const lines = await runReadmeExample(here, [
      ["'@llm-bip/eval'", JSON.stringify(join(here, 'index.js'))],
      ["'@llm-bip/runtime'", JSON.stringify(join(here, '../../runtime/src/index.js'))],
      ["createSession('model.onnx', { ep: 'auto' })", `createSession(${JSON.stringify(fixtures.torchscript)}, { ep: 'cpu' })`],
      ["loadTokenizer('hf-model-folder')", `loadTokenizer(${JSON.stringify(fixtures.tinyHf)})`],
      ["'shared/data/tasks'", JSON.stringify(shared('data/tasks'))],
      ["'shared/data'", JSON.stringify(shared('data'))],
      ["'.cache/eval'", JSON.stringify(cache.dir)],
    ]);
    const text = lines.join('\n');
    expect(text).toMatch(/\| ptb\s+\|\s+[\d.]+ \|\s+8\/834 \|\s+128 \|/);
    expect(text).toMatch(/\| piqa\s+\|/);
    expect(text).toMatch(/\| arc_easy\s+\|/);
  });
});
