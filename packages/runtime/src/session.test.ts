import { fixtures } from '@llm-bip/testing';
import { describe, expect, it } from 'vitest';
import { cudaMissingReason } from './cuda.js';
import { webgpuMissingReason } from './ep-probe.js';
import { EpUnavailableError, FeedValidationError, SessionLoadError, SessionRunError } from './errors.js';
import { createSession } from './session.js';
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
