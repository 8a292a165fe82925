// Cheap checks that explain, before ORT tries, why an execution provider cannot load here.
// ORT's own failure for a missing provider library is an opaque "Failed to load shared library",
// and Dawn prints a Vulkan warning straight to stderr, so we look first and skip with a clear reason.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** Folder holding onnxruntime-node's native binaries for this platform. */
export function ortBinaryDir(): string {
  const require = createRequire(import.meta.url);
  const entry = require.resolve('onnxruntime-node'); // .../onnxruntime-node/dist/index.js
  return join(dirname(entry), '..', 'bin', 'napi-v6', process.platform, process.arch);
}

const libDirs = [
  '/usr/lib/x86_64-linux-gnu',
  '/usr/lib/aarch64-linux-gnu',
  '/lib/x86_64-linux-gnu',
  '/lib/aarch64-linux-gnu',
  '/usr/lib64',
  '/usr/lib',
  '/lib64',
  '/lib',
  '/usr/local/lib',
  '/usr/local/nvidia/lib64',
];

/** Whether the dynamic loader can find a shared library (LD_LIBRARY_PATH, ld.so.cache, usual dirs). */
export function sharedLibraryFindable(name: string): boolean {
  const fromEnv = (process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean);
  if ([...fromEnv, ...libDirs].some((d) => existsSync(join(d, name)))) return true;
  try {
    return readFileSync('/etc/ld.so.cache').includes(Buffer.from(name));
  } catch {
    return false;
  }
}

/** Why the WebGPU EP cannot load, or undefined when it is worth trying. */
export function webgpuMissingReason(): string | undefined {
  // LLM_BIP_WEBGPU_PRECHECK=0: let ORT try even when the loader is not found where we look (e.g. an rpath)
  if (process.env.LLM_BIP_WEBGPU_PRECHECK === '0') return undefined;
  if (process.platform === 'linux' && !sharedLibraryFindable('libvulkan.so.1')) {
    return (
      'libvulkan.so.1 (the Vulkan loader Dawn needs on Linux) not found — install it ' +
      '(e.g. apt install libvulkan1) plus a Vulkan driver for the GPU'
    );
  }
  return undefined;
}

/** Shorten ORT's multi-line failure text to its informative part. */
export function summariseOrtError(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const firstLine = text.split('\n').find((l) => l.trim() !== '') ?? text;
  const adapter = /Failed to get a WebGPU adapter[^\n]*/.exec(text);
  if (adapter) return `${adapter[0]} (no GPU adapter reachable through Vulkan)`;
  return firstLine.replace(/^\/onnxruntime_src\/\S+\s*/, '').trim();
}
