/** The README's example, run as written on a tiny model (only the paths change). */
import { afterAll, expect, it } from 'vitest';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildTinyLlama, tempDir } from '@llm-bip/testing';

const tmp = tempDir('llm-bip-surgery-readme-');
afterAll(() => tmp.cleanup());

it('README example runs', async () => {
  const readme = readFileSync(fileURLToPath(new URL('../README.md', import.meta.url)), 'utf8');
  const code = /```ts\n([\s\S]*?)```/.exec(readme)![1]!;
  const t = await buildTinyLlama({ seed: 3, hiddenSize: 32, numLayers: 2, numHeads: 4, numKvHeads: 4, intermediateSize: 48, vocabSize: 50 }, { dir: tmp.dir, dtype: 'float32', kvCache: false });
  const out = join(tmp.dir, 'out');
  const script = join(tmp.dir, 'example.ts');
  const logs: unknown[][] = [];
  writeFileSync(
    script,
    code
      .replace("'model.onnx'", JSON.stringify(t.onnxPath))
      .replace("'out/'", JSON.stringify(out + '/'))
      .replace('console.log(', 'globalThis.__readmeLog(') + '\nexport {};\n',
  );
  (globalThis as unknown as { __readmeLog: (...a: unknown[]) => void }).__readmeLog = (...a) => logs.push(a);
  await import(script);
  expect(existsSync(join(out, 'model.onnx'))).toBe(true);
  expect(logs[0]![0]).toBe(join(out, 'model.onnx'));
  expect(logs[0]![3] as number).toBeLessThan(logs[0]![1] as number);
});
