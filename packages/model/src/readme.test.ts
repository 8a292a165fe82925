/** The README's example, run as written on the TorchScript fixture (only the path changes). */
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { fixtures, runReadmeExample } from '@llm-bip/testing';

const here = dirname(fileURLToPath(import.meta.url));

it('README example recognises the TorchScript fixture and validates an empty plan', async () => {
  const lines = await runReadmeExample(here, [
    ["'@llm-bip/model'", JSON.stringify(`${here}/index.js`)],
    ["loadModel('model.onnx')", `loadModel(${JSON.stringify(fixtures.torchscript)})`],
  ]);
  expect(lines[0]).toMatch(/^torch\.onnx .*: 6 layers, 8 heads, 8 KV heads$/);
  expect(lines[1]).toBe('attention+MLP parameters: 4816896');
});
