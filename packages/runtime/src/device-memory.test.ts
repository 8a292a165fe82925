import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '@llm-bip/testing';
import { deviceMemory, hostAvailable } from './device-memory.js';

const tmp = tempDir('runtime-device-memory-');
afterAll(tmp.cleanup);

describe('device memory for a budget of auto', () => {
  it('reads MemAvailable (kB) from meminfo, and falls back to free memory when there is none', () => {
    const f = join(tmp.dir, 'meminfo');
    writeFileSync(f, 'MemTotal:       25000000 kB\nMemFree:         1000000 kB\nMemAvailable:   20000000 kB\n');
    expect(hostAvailable(f)).toEqual({ freeBytes: 20000000 * 1024, source: 'host MemAvailable' });
    const missing = hostAvailable(join(tmp.dir, 'absent'));
    expect(missing.source).toBe('host free memory');
    expect(missing.freeBytes).toBeGreaterThan(0);
  });

  it('cpu: the host; webgpu: unknown, with the reason', () => {
    const cpu = deviceMemory('cpu');
    expect(cpu.ep).toBe('cpu');
    expect(cpu.freeBytes).toBeGreaterThan(0);
    const gpu = deviceMemory('webgpu');
    expect(gpu).toEqual({ ep: 'webgpu', source: 'WebGPU exposes no free-memory query' });
  });
});
