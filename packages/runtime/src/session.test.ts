import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { buildTinyLlama, fixtures, tempDir } from '@llm-bip/testing';
import { describe, expect, it } from 'vitest';
import { cudaMissingReason } from './cuda.js';
import { webgpuMissingReason } from './ep-probe.js';
import { EpUnavailableError, FeedValidationError, SessionLoadError, SessionRunError } from './errors.js';
import { createSession, ortOptions } from './session.js';
import { int64Tensor } from './tensors.js';

describe('createSession', () => {
  it("auto picks an EP and reports, in one line, why the ones before it failed", async () => {
    const lines: string[] = [];
    const s = await createSession(fixtures.torchscript, { ep: 'auto', onLog: (l) => lines.push(l) });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toBe(s.epReport);
    const cuda = cudaMissingReason();
    const webgpu = webgpuMissingReason();
    if (cuda !== undefined && webgpu !== undefined) {
      // a machine like CI: no CUDA EP binaries, no Vulkan loader
      expect(s.ep).toBe('cpu');
      expect(lines[0]).toMatch(/^execution provider: cpu \(CUDA EP unavailable: libonnxruntime_providers_cuda\.so not found in .* — run `llm-bip setup cuda` .*; WebGPU EP unavailable: libvulkan\.so\.1/);
    } else {
      expect(['cuda', 'webgpu', 'cpu']).toContain(s.ep);
      expect(lines[0]).toContain(`execution provider: ${s.ep}`);
      if (s.ep !== 'cuda') expect(lines[0]).toContain('CUDA EP unavailable');
    }
    expect(s.inputNames).toEqual(['input_ids', 'attention_mask']);
    expect(s.outputNames).toEqual(['logits']);
    expect(s.loadMs).toBeGreaterThan(0);
    await s.release();
  });

  it('an explicit EP that cannot load throws with the reason', async () => {
    const reason = cudaMissingReason();
    if (reason === undefined) {
      // CUDA EP binaries present: the explicit request either works or names its failure
      await createSession(fixtures.torchscript, { ep: 'cuda' }).then(
        (s) => expect(s.ep).toBe('cuda'),
        (e) => expect(e).toBeInstanceOf(EpUnavailableError),
      );
    } else {
      await expect(createSession(fixtures.torchscript, { ep: 'cuda' })).rejects.toThrow(/cuda execution provider unavailable: libonnxruntime_providers_cuda/);
    }
  });

  it('prepack: false loads (also in memory, with the external data read from its folder) and computes the same logits up to float32 rounding', async () => {
    const tmp = tempDir('runtime-prepack-');
    try {
      const tiny = await buildTinyLlama({ seed: 2, hiddenSize: 64, numLayers: 2, numHeads: 4, numKvHeads: 4, intermediateSize: 96, vocabSize: 50 }, { dir: tmp.dir, dtype: 'float32', kvCache: false, externalData: true });
      const bytes = new Uint8Array(await readFile(tiny.onnxPath));
      const feeds = { input_ids: int64Tensor([5, 9, 2, 7], [1, 4]), attention_mask: int64Tensor([1, 1, 1, 1], [1, 4]), position_ids: int64Tensor([0, 1, 2, 3], [1, 4]) };
      const logits = async (prepack: boolean) => {
        // in memory under a path whose folder has no data: the weights must come from externalDataDir
        const s = await createSession({ path: '/nonexistent/copy.onnx', bytes, externalDataDir: dirname(tiny.onnxPath) }, { ep: 'cpu', prepack });
        const out = (await s.run(feeds)).logits!.data as Float32Array;
        await s.release();
        return out;
      };
      const [packed, plain] = [await logits(true), await logits(false)];
      const scale = packed.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      expect(plain.length).toBe(packed.length);
      for (let i = 0; i < packed.length; i++) expect(Math.abs(plain[i]! - packed[i]!)).toBeLessThanOrEqual(1e-5 * scale);
    } finally {
      tmp.cleanup();
    }
  });

  it('a missing model file is a SessionLoadError naming the path', async () => {
    await expect(createSession('/nonexistent/model.onnx', { ep: 'cpu' })).rejects.toThrow(SessionLoadError);
  });

  it('validates feeds and reports names, dtypes and dims', async () => {
    const s = await createSession(fixtures.torchscript, { ep: 'cpu', threads: 1 });
    const ids = int64Tensor([1, 2, 3], [1, 3]);
    await expect(s.run({ input_ids: ids })).rejects.toThrow(FeedValidationError);
    await expect(s.run({ input_ids: ids })).rejects.toThrow(/missing input "attention_mask"[\s\S]*input_ids: int64\[batch, seq\][\s\S]*feeds given: input_ids: int64\[1, 3\]/);
    const wrongType = new (await import('./ort.js')).ort.Tensor('int32', Int32Array.from([1, 1, 1]), [1, 3]);
    await expect(s.run({ input_ids: ids, attention_mask: wrongType })).rejects.toThrow(/"attention_mask" is int32, the model wants int64/);
    await expect(s.run({ input_ids: ids, attention_mask: int64Tensor([1, 1, 1], [1, 3]), extra: ids })).rejects.toThrow(/unknown input "extra"/);
    const out = await s.run({ input_ids: ids, attention_mask: int64Tensor([1, 1, 1], [1, 3]) });
    expect(out.logits!.dims).toEqual([1, 3, 8192]);
    await s.release();
  });

  it('an ORT failure inside run names every feed with dtype and dims', async () => {
    const s = await createSession(fixtures.torchscript, { ep: 'cpu', threads: 1 });
    const run = s.run({ input_ids: int64Tensor([1, 2, 3], [1, 3]), attention_mask: int64Tensor([1, 1, 1, 1], [1, 4]) });
    await expect(run).rejects.toThrow(SessionRunError);
    await expect(s.run({ input_ids: int64Tensor([1, 2, 3], [1, 3]), attention_mask: int64Tensor([1, 1, 1, 1], [1, 4]) })).rejects.toThrow(
      /feeds: input_ids: int64\[1, 3\]; attention_mask: int64\[1, 4\]/,
    );
    await s.release();
  });
});

describe('ortOptions: device memory', () => {
  it('puts initializers outside the arena by default on CUDA only, as asked otherwise, and turns the memory pattern off when asked', () => {
    expect(ortOptions('cuda', { initializerAllocator: 'arena' }).extra).toBeUndefined();
    expect(ortOptions('cpu', { initializerAllocator: 'device' }).extra).toEqual({ session: { use_device_allocator_for_initializers: '1' } });
    expect(ortOptions('webgpu', {}).extra).toBeUndefined();
    expect(ortOptions('cuda', { memPattern: false }).enableMemPattern).toBe(false);
    expect(ortOptions('cuda', {}).enableMemPattern).toBeUndefined();
  });
});
