import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildTinyLlama, runReadmeExample, tempDir } from '@llm-bip/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { getCriterion } from './criteria/registry.js';

const tmp = tempDir('scoring-readme-');
afterAll(tmp.cleanup);

describe('README', () => {
  it('runs the example: a criterion in one object, registered, scored and planned', async () => {
    const here = dirname(fileURLToPath(import.meta.url));
    const t = await buildTinyLlama({ seed: 3, hiddenSize: 32, numLayers: 2, numHeads: 4, numKvHeads: 4, intermediateSize: 40, vocabSize: 64 }, { dir: tmp.dir, dtype: 'float32', kvCache: false });
    const lines = await runReadmeExample(here, [
      ["'@llm-bip/scoring'", JSON.stringify(join(here, 'index.js'))],
      ["'@llm-bip/onnx-io'", JSON.stringify(join(here, '../../onnx-io/src/index.js'))],
      ["'@llm-bip/model'", JSON.stringify(join(here, '../../model/src/index.js'))],
      ["loadModel('model.onnx')", `loadModel(${JSON.stringify(t.onnxPath)})`],
    ]);
    expect(getCriterion('activation-norm').options?.[0]?.name).toBe('power');
    // uniform: heads are not scored, so the channels carry the whole ratio of attention+MLP parameters in every layer
    const kept = lines[0]!.split(' ').map((x) => x.split('/').map(Number));
    expect(kept).toHaveLength(2);
    for (const [k, n] of kept) {
      expect(n).toBe(40);
      expect(k).toBeLessThan(30);
      expect(k).toBeGreaterThan(0);
    }
  });
});
