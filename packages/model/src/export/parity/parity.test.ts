/**
 * Export and reference vs transformers itself on tiny variants (GQA with head_dim != hidden/heads and
 * tied embeddings, left padding, llama3 and linear rope scaling, a transformers-4 config.json, bf16
 * weights). torch-variants.json: LlamaForCausalLM float64, eager attention (see variants.ts).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, referenceForward, PARITY_VARIANTS, weightChecksum, writeParityVariant } from '@llm-bip/testing';
import { loadHfWeightsFloat64 } from '../../hf/weights.js';
import { exportLlamaToOnnx } from '../export.js';
import { forwardFeeds, logitsOf, openSession } from '../ort.testutil.js';

interface TorchVariant {
  weight_checksum: number;
  probe_vocab: number[];
  logits_at_probe: Array<Array<Array<number | null>>>;
  argmax: number[][];
  logsumexp: Array<Array<number | null>>;
  max_abs_logit: number;
  /** float32 forward, for variants with an attention_mask (HF's float64 eager attention turns a left-padded row into NaN) */
  float32?: TorchVariant;
}
const torch = JSON.parse(readFileSync(new URL('./torch-variants.json', import.meta.url), 'utf8')) as { variants: Record<string, TorchVariant> };

const tmp = tempDir('llm-bip-parity-');
afterAll(() => tmp.cleanup());

/** Largest |ours - torch| over the probed logits and over logsumexp, at compared positions, relative to torch's max |logit|; argmax mismatches. */
function compare(logits: ArrayLike<number>, vocab: number, t: TorchVariant, compareMask: boolean[][]) {
  let probe = 0;
  let lse = 0;
  const argmaxMismatch: string[] = [];
  compareMask.forEach((row, b) =>
    row.forEach((on, s) => {
      if (!on) return;
      const off = (b * row.length + s) * vocab;
      t.probe_vocab.forEach((v, j) => (probe = Math.max(probe, Math.abs(logits[off + v]! - t.logits_at_probe[b]![s]![j]!))));
      let best = 0;
      let max = -Infinity;
      for (let v = 0; v < vocab; v++) {
        if (logits[off + v]! > logits[off + best]!) best = v;
        max = Math.max(max, logits[off + v]!);
      }
      let sum = 0;
      for (let v = 0; v < vocab; v++) sum += Math.exp(logits[off + v]! - max);
      lse = Math.max(lse, Math.abs(max + Math.log(sum) - t.logsumexp[b]![s]!));
      if (best !== t.argmax[b]![s]) argmaxMismatch.push(`${b}:${s}`);
    }),
  );
  return { probe: probe / t.max_abs_logit, lse: lse / t.max_abs_logit, argmaxMismatch };
}

describe('tiny variants vs transformers (float64)', () => {
  for (const v of PARITY_VARIANTS) {
    it(v.name, async () => {
      const t = v.attentionMask ? torch.variants[v.name]!.float32! : torch.variants[v.name]!;
      const hfDir = join(tmp.dir, v.name);
      await writeParityVariant(v, hfDir);
      const sum = await weightChecksum(hfDir);
      expect(Math.abs(sum - t.weight_checksum) / t.weight_checksum, 'seeded weights changed: regenerate torch-variants.json (see variants.ts)').toBeLessThan(1e-9);

      const onnxPath = join(tmp.dir, `${v.name}.onnx`);
      const { config } = await exportLlamaToOnnx(hfDir, onnxPath, { dtype: 'float32', kvCache: false });
      const session = await openSession(onnxPath);
      const feeds = forwardFeeds(v.inputIds, { positions: v.positionIds, ...(v.attentionMask ? { mask: v.attentionMask } : {}) });
      const ours = logitsOf(await session.run(feeds));
      await session.release();
      const e = compare(ours, config.vocabSize, t, v.compare);
      const { weights } = await loadHfWeightsFloat64(hfDir);
      const ref = referenceForward(config, weights, v.inputIds, { positionIds: v.positionIds, ...(v.attentionMask ? { attentionMask: v.attentionMask } : {}) });
      const r = compare(ref, config.vocabSize, t, v.compare);
      console.log(`[parity] ${v.name}: ONNX fp32 vs torch rel ${e.probe.toExponential(2)} (lse ${e.lse.toExponential(2)}); TS float64 reference vs torch rel ${r.probe.toExponential(2)}`);
      expect(e.argmaxMismatch).toEqual([]);
      expect(r.argmaxMismatch).toEqual([]);
      expect(e.probe).toBeLessThanOrEqual(1e-5);
      expect(e.lse).toBeLessThanOrEqual(1e-5);
      expect(r.probe).toBeLessThanOrEqual(1e-5);
    });
  }
});
