/** The README's example, run as written (only the output path changes). */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';
import { runReadmeExample, tempDir } from '@llm-bip/testing';

const here = dirname(fileURLToPath(import.meta.url));
const tmp = tempDir('llm-bip-gguf-readme-');
afterAll(tmp.cleanup);

it('README example writes a Q8_0 tensor and reads it back within half a quantization step', async () => {
  const out = JSON.stringify(join(tmp.dir, 'demo.gguf'));
  const lines = await runReadmeExample(here, [
    ["'@llm-bip/gguf'", JSON.stringify(`${here}/index.js`)],
    ["writeGguf('demo.gguf'", `writeGguf(${out}`],
    ["readGgufHeader('demo.gguf')", `readGgufHeader(${out})`],
  ]);
  expect(lines[0]).toBe('blk.0.ffn_up.weight [64, 32] Q8_0, block_count 1');
  const err = Number(/max \|error\| ([\d.]+)/.exec(lines[1]!)?.[1]);
  expect(err).toBeGreaterThan(0);
  expect(err).toBeLessThanOrEqual(0.5 / 127 + 1e-3); // |sin| <= 1: half a step of 1/127, plus fp16 rounding of the scale
});
