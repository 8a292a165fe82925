import { afterAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { tempDir, writeTinyHfCheckpoint, type TinyStorage } from '@llm-bip/testing';
import { readHfConfig } from '../hf/config.js';
import { SafetensorsCheckpoint } from '../hf/safetensors.js';
import { buildLlamaGraph, type ExportDtype } from './llama-graph.js';
import { buildLlamaOnnx } from './export.js';
import { streamSlot, type BandSizes } from './stream-weights.js';

const tmp = tempDir('llm-bip-stream-weights-');
afterAll(() => tmp.cleanup());

// vocab 100 x hidden 48, MLP 72: odd band and block splits against every tensor's rows and columns
const SHAPE = { seed: 5, hiddenSize: 48, numLayers: 1, numHeads: 4, numKvHeads: 2, intermediateSize: 72, vocabSize: 100 };

async function concat(chunks: AsyncIterable<Uint8Array>): Promise<{ bytes: Uint8Array; pieces: number }> {
  const parts: Uint8Array[] = [];
  for await (const c of chunks) parts.push(c.slice()); // chunks may share a reused buffer
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return { bytes: out, pieces: parts.length };
}

describe('streamSlot: banded conversion equals the whole-tensor conversion byte for byte', () => {
  const cases: Array<[TinyStorage, ExportDtype, BandSizes, string]> = [
    ['bfloat16', 'float16', { bandFloats: 1000, readBytes: 500 }, 'bf16 -> fp16, bands of 1000 floats, reads of 500 bytes'],
    ['float16', 'float32', { bandFloats: 333, readBytes: 97 }, 'fp16 -> fp32, a block smaller than one row'],
    ['float32', 'float16', { bandFloats: 10, readBytes: 10_000 }, 'fp32 -> fp16, bands narrower than one row (one column each)'],
    ['bfloat16', 'float32', {}, 'bf16 -> fp32, default sizes (one band)'],
  ];
  for (const [storage, dtype, sizes, label] of cases) {
    it(label, async () => {
      const hfDir = join(tmp.dir, `${storage}-${dtype}-${sizes.bandFloats ?? 'default'}`);
      await writeTinyHfCheckpoint(SHAPE, hfDir, storage);
      const config = readHfConfig(hfDir);
      const ckpt = await SafetensorsCheckpoint.open(hfDir);
      try {
        // the reference: each tensor read whole as float32, transposed and encoded in memory
        const whole = new Map<string, Float32Array>();
        for (const name of ckpt.entries.keys()) whole.set(name, await ckpt.readFloat32(name));
        const reference = buildLlamaOnnx(config, (n) => whole.get(n)!, { dtype, kvCache: false });
        const refBytes = new Map(reference.graph!.initializer!.map((t) => [t.name!, t.rawData!]));
        const { weights } = buildLlamaGraph(config, { dtype, kvCache: false });
        let multiBand = 0;
        for (const slot of weights) {
          const streamed = streamSlot(slot, ckpt, sizes);
          const { bytes, pieces } = await concat(streamed.chunks);
          expect(bytes.length).toBe(streamed.byteLength);
          expect(Buffer.from(bytes).equals(Buffer.from(refBytes.get(slot.hfName)!)), slot.hfName).toBe(true);
          if (pieces > 1) multiBand++;
        }
        // the small sizes really split tensors into several bands
        if (sizes.bandFloats !== undefined) expect(multiBand).toBeGreaterThan(3);
      } finally {
        await ckpt.close();
      }
    });
  }

  it('refuses a tensor whose shape differs from the slot', async () => {
    const hfDir = join(tmp.dir, 'shape');
    await writeTinyHfCheckpoint(SHAPE, hfDir, 'float32');
    const config = readHfConfig(hfDir);
    const ckpt = await SafetensorsCheckpoint.open(hfDir);
    try {
      const slot = buildLlamaGraph({ ...config, intermediateSize: 80 }, { dtype: 'float32', kvCache: false }).weights.find((s) => s.hfName.includes('gate_proj'))!;
      expect(() => streamSlot(slot, ckpt)).toThrow(/gate_proj.weight" has shape \[72,48\], expected \[80,48\]/);
    } finally {
      await ckpt.close();
    }
  });
});
