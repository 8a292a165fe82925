import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { fixtures } from '@llm-bip/testing';
import { describe, expect, it, vi } from 'vitest';

describe('README', () => {
  it('runs the example on the genai fixture', async () => {
    const here = dirname(fileURLToPath(import.meta.url));
    const readme = readFileSync(join(here, '..', 'README.md'), 'utf8');
    const block = /```ts\n([\s\S]*?)```/.exec(readme)![1]!;
    const code = block
      .replace("'@llm-bip/runtime'", JSON.stringify(join(here, 'index.js')))
      .replace("createSession('model.onnx'", `createSession(${JSON.stringify(fixtures.genai)}`);
    expect(code).not.toBe(block);
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
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^execution provider: (cpu|cuda|webgpu)/);
    expect(lines[1]).toMatch(/^logits \[1, 4, 8192\] on (cpu|cuda|webgpu), loaded in \d+ ms$/);
    expect(lines[2]).toMatch(/^greedy: (\d+ ){7}\d+ \(KV cache: true\)$/);
  });
});
