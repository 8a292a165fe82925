/**
 * Issue-2 evidence on both test-bed models: `exportLlamaToOnnx` (fp32) run in onnxruntime-node CPU
 * against PyTorch's HF forward computed on the GPU machine (torch-logits.*.json, see README.md here).
 * Tolerance: max |ours - torch| over the sampled logits <= 1e-4 x the largest |torch logit|.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { exportLlamaToOnnx } from '@llm-bip/model';
import { createSession, forwardLogits, makeTokenBatch } from '@llm-bip/runtime';
import { fixtures, tempDir } from '@llm-bip/testing';

interface TorchLogits {
  input_ids: number[][];
  probe_vocab: number[];
  logits_at_probe: number[][][];
  argmax: number[][];
  logsumexp: number[][];
  max_abs_logit: number;
}

const tmp = tempDir('llm-bip-torch-parity-');
afterAll(() => tmp.cleanup());

describe.each([
  ['bip-llama-tiny', fixtures.tinyHf],
  ['bip-llama-small', fixtures.smallHf],
])('%s: our fp32 ONNX export vs PyTorch (GPU machine)', (name, hfDir) => {
  it('logits agree to 1e-4 relative; argmax and logsumexp agree', async () => {
    const ref = JSON.parse(readFileSync(new URL(`../../references/torch-logits.${name}.json`, import.meta.url), 'utf8')) as TorchLogits;
    const out = join(tmp.dir, `${name}.onnx`);
    await exportLlamaToOnnx(hfDir, out, { dtype: 'float32', kvCache: false, externalData: true });
    const session = await createSession(out, { ep: 'cpu' });
    const { data, seq, vocab } = await forwardLogits(session, makeTokenBatch(ref.input_ids));
    await session.release();

    let maxErr = 0;
    let lseErr = 0;
    ref.input_ids.forEach((_, b) => {
      for (let t = 0; t < seq; t++) {
        const row = data.subarray((b * seq + t) * vocab, (b * seq + t + 1) * vocab);
        ref.probe_vocab.forEach((v, j) => {
          maxErr = Math.max(maxErr, Math.abs(row[v]! - ref.logits_at_probe[b]![t]![j]!));
        });
        let best = 0;
        let m = -Infinity;
        for (let v = 0; v < vocab; v++) {
          if (row[v]! > row[best]!) best = v;
          m = Math.max(m, row[v]!);
        }
        let s = 0;
        for (let v = 0; v < vocab; v++) s += Math.exp(row[v]! - m);
        lseErr = Math.max(lseErr, Math.abs(m + Math.log(s) - ref.logsumexp[b]![t]!));
        expect(best, `argmax at batch ${b}, position ${t}`).toBe(ref.argmax[b]![t]);
      }
    });
    const rel = maxErr / ref.max_abs_logit;
    console.log(`[${name}] export vs PyTorch: max abs err ${maxErr.toExponential(2)}, relative ${rel.toExponential(2)}, logsumexp err ${lseErr.toExponential(2)}`);
    expect(rel).toBeLessThanOrEqual(1e-4);
    expect(lseErr / ref.max_abs_logit).toBeLessThanOrEqual(1e-4);
  });
});
