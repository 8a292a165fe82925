/**
 * Real evidence: our export of the trained test-bed model against PyTorch's logits
 * (../shared/fixtures/bip-llama-tiny-onnx/reference.json: fp32 HF forward of the fp16 weights).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixtures, tempDir, referenceForward } from '@llm-bip/testing';
import { loadHfWeightsFloat64 } from '../hf/weights.js';
import { exportLlamaToOnnx } from './export.js';
import { emptyPast, forwardFeeds, logitsOf, openSession } from './ort.testutil.js';

interface TorchReference {
  input_ids: number[];
  logits_fp32_first5: number[][];
  argmax: number[];
}

const tmp = tempDir('llm-bip-testbed-export-');
afterAll(() => tmp.cleanup());
const ref = JSON.parse(readFileSync(fixtures.reference, 'utf8')) as TorchReference;

/** max |a - torch| over the first 5 logits of every position, relative to the largest |torch logit| there. */
function compareFirst5(logits: ArrayLike<number>, vocab: number): { abs: number; rel: number; argmax: number[] } {
  let abs = 0;
  let scale = 0;
  const argmax: number[] = [];
  ref.logits_fp32_first5.forEach((row, t) => {
    row.forEach((want, j) => {
      abs = Math.max(abs, Math.abs(logits[t * vocab + j]! - want));
      scale = Math.max(scale, Math.abs(want));
    });
    let best = 0;
    for (let v = 1; v < vocab; v++) if (logits[t * vocab + v]! > logits[t * vocab + best]!) best = v;
    argmax.push(best);
  });
  return { abs, rel: abs / scale, argmax };
}

describe('bip-llama-tiny export vs PyTorch', () => {
  it('fp32 export with external data matches the PyTorch logits (rel. err <= 1e-4) and argmax', async () => {
    const out = join(tmp.dir, 'tiny.onnx');
    const res = await exportLlamaToOnnx(fixtures.tinyHf, out, { dtype: 'float32', kvCache: false, externalData: true });
    expect(res.dataPath).toBe(`${out}.data`);
    const session = await openSession(out);
    const logits = logitsOf(await session.run(forwardFeeds([ref.input_ids])));
    await session.release();
    const { abs, rel, argmax } = compareFirst5(logits, res.config.vocabSize);
    console.log(`[testbed] ONNX fp32 export vs PyTorch: max abs err ${abs.toExponential(2)}, relative ${rel.toExponential(2)}`);
    expect(rel).toBeLessThanOrEqual(1e-4);
    expect(argmax).toEqual(ref.argmax);
  });

  it('fp16 export with KV cache runs and stays close (rel. err <= 1e-3) with the same argmax', async () => {
    const out = join(tmp.dir, 'tiny-fp16.onnx');
    const res = await exportLlamaToOnnx(fixtures.tinyHf, out, { dtype: 'float16', kvCache: true });
    const session = await openSession(out);
    const c = res.config;
    const logits = logitsOf(await session.run({ ...forwardFeeds([ref.input_ids]), ...emptyPast(session, 1, c, 'float16') }));
    await session.release();
    const { abs, rel, argmax } = compareFirst5(logits, c.vocabSize);
    console.log(`[testbed] ONNX fp16 export vs PyTorch fp32: max abs err ${abs.toExponential(2)}, relative ${rel.toExponential(2)}`);
    expect(rel).toBeLessThanOrEqual(1e-3);
    expect(argmax).toEqual(ref.argmax);
  });

  it('the float64 TS reference forward matches the PyTorch logits', async () => {
    const { config, weights } = await loadHfWeightsFloat64(fixtures.tinyHf);
    const logits = referenceForward(config, weights, [ref.input_ids]);
    const { abs, rel, argmax } = compareFirst5(logits, config.vocabSize);
    console.log(`[testbed] TS float64 reference vs PyTorch: max abs err ${abs.toExponential(2)}, relative ${rel.toExponential(2)}`);
    expect(rel).toBeLessThanOrEqual(1e-4);
    expect(argmax).toEqual(ref.argmax);
  });
});
