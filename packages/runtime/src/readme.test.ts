import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fixtures, runReadmeExample } from '@llm-bip/testing';
import { describe, expect, it } from 'vitest';

describe('README', () => {
  it('runs the example on the genai fixture', async () => {
    const here = dirname(fileURLToPath(import.meta.url));
    const lines = await runReadmeExample(here, [
      ["'@llm-bip/runtime'", JSON.stringify(join(here, 'index.js'))],
      ["createSession('model.onnx'", `createSession(${JSON.stringify(fixtures.genai)}`],
    ]);
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^execution provider: (cpu|cuda|webgpu)/);
    expect(lines[1]).toMatch(/^logits \[1, 4, 8192\] on (cpu|cuda|webgpu), loaded in \d+ ms$/);
    expect(lines[2]).toMatch(/^greedy: (\d+ ){7}\d+ \(KV cache: true\)$/);
  });
});
