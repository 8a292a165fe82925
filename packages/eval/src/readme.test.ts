import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { fixtures, shared, tempDir } from '@llm-bip/testing';
import { afterAll, describe, expect, it, vi } from 'vitest';

const cache = tempDir();
afterAll(() => cache.cleanup());

describe('README', () => {
  it('runs the example on the TorchScript fixture', async () => {
    const here = dirname(fileURLToPath(import.meta.url));
    const readme = readFileSync(join(here, '..', 'README.md'), 'utf8');
    const block = /```ts\n([\s\S]*?)```/.exec(readme)![1]!;
    const code = block
      .replace("'@llm-bip/eval'", JSON.stringify(join(here, 'index.js')))
      .replace("'@llm-bip/runtime'", JSON.stringify(join(here, '../../runtime/src/index.js')))
      .replace("createSession('model.onnx', { ep: 'auto' })", `createSession(${JSON.stringify(fixtures.torchscript)}, { ep: 'cpu' })`)
      .replace("loadTokenizer('hf-model-folder')", `loadTokenizer(${JSON.stringify(fixtures.tinyHf)})`)
      .replace("'shared/data'", JSON.stringify(shared('data')))
      .replace("'shared/data/tasks'", JSON.stringify(shared('data/tasks')))
      .replace("'.cache/eval'", JSON.stringify(cache.dir));
    expect(code).not.toContain("'shared/");
    const file = join(here, `.readme-example.${process.pid}.tmp.ts`);
    writeFileSync(file, code);
    const lines: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => void lines.push(args.join(' ')));
    try {
      await import(pathToFileURL(file).href);
    } finally {
      log.mockRestore();
      rmSync(file, { force: true });
    }
    const text = lines.join('\n');
    expect(text).toMatch(/\| ptb\s+\|\s+[\d.]+ \|\s+8\/834 \|\s+128 \|/);
    expect(text).toMatch(/\| piqa\s+\|/);
    expect(text).toMatch(/\| arc_easy\s+\|/);
  });
});
