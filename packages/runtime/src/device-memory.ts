/**
 * Free memory of the device an execution provider would run on, for a memory budget of `auto`.
 * CPU: the host's MemAvailable (what the kernel can give without swapping). CUDA: nvidia-smi's free
 * memory of the device (ORT has no API for it). WebGPU: not measurable here. Undefined bytes come
 * with the reason, so the caller can say why it falls back.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { freemem } from 'node:os';
import { cudaDeviceId, cudaMissingReason } from './cuda.js';
import { webgpuMissingReason } from './ep-probe.js';
import type { EpChoice, ExecutionProvider } from './session.js';

export interface DeviceMemory {
  /** the EP the choice resolves to (`auto`: the first whose cheap checks pass, as createSession tries) */
  ep: ExecutionProvider;
  /** free bytes; undefined when they cannot be measured */
  freeBytes?: number;
  /** where the number came from, or why there is none */
  source: string;
}

/** The EP a choice resolves to without creating a session (`auto`: the first whose cheap checks pass, as createSession tries). */
export function resolveEp(choice: EpChoice): ExecutionProvider {
  return choice !== 'auto' ? choice : cudaMissingReason() === undefined ? 'cuda' : webgpuMissingReason() === undefined ? 'webgpu' : 'cpu';
}

export function deviceMemory(choice: EpChoice, deviceId?: number): DeviceMemory {
  const ep = resolveEp(choice);
  if (ep === 'cpu') return { ep, ...hostAvailable() };
  if (ep === 'webgpu') return { ep, source: 'WebGPU exposes no free-memory query' };
  const device = cudaDeviceId(deviceId);
  try {
    const out = execFileSync('nvidia-smi', ['--query-gpu=memory.free', '--format=csv,noheader,nounits', '-i', String(device)], { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'ignore'] });
    const mib = Number(out.trim().split('\n')[0]);
    if (Number.isFinite(mib) && mib > 0) return { ep, freeBytes: mib * 2 ** 20, source: `nvidia-smi, CUDA device ${device}` };
    return { ep, source: `nvidia-smi gave no free memory for CUDA device ${device}` };
  } catch (e) {
    return { ep, source: `nvidia-smi could not be run (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})` };
  }
}

/**
 * Device-wide memory in use on the CUDA device (nvidia-smi's memory.used: every process's), for
 * comparing a plan's estimates with what the device really holds; undefined on other EPs or when
 * nvidia-smi cannot say.
 */
export function deviceMemoryUsed(ep: ExecutionProvider, deviceId?: number): number | undefined {
  if (ep !== 'cuda') return undefined;
  try {
    const out = execFileSync('nvidia-smi', ['--query-gpu=memory.used', '--format=csv,noheader,nounits', '-i', String(cudaDeviceId(deviceId))], { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'ignore'] });
    const mib = Number(out.trim().split('\n')[0]);
    return Number.isFinite(mib) && mib >= 0 ? mib * 2 ** 20 : undefined;
  } catch {
    return undefined;
  }
}

/** MemAvailable from /proc/meminfo (Linux), else Node's free memory. */
export function hostAvailable(meminfo = '/proc/meminfo'): { freeBytes: number; source: string } {
  try {
    const kb = Number(/^MemAvailable:\s+(\d+)\s+kB/m.exec(readFileSync(meminfo, 'utf8'))?.[1]);
    if (Number.isFinite(kb) && kb > 0) return { freeBytes: kb * 1024, source: 'host MemAvailable' };
  } catch {
    // not Linux: fall through
  }
  return { freeBytes: freemem(), source: 'host free memory' };
}
