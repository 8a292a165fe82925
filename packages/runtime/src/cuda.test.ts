import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '@llm-bip/testing';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CUDA_PROVIDER,
  CUDA_RECORD_FILE,
  cudaDeviceId,
  cudaLibraryCandidates,
  cudaUnavailableReason,
  locateCudaLibraries,
  prepareCudaLibraries,
  readCudaRecord,
} from './cuda.js';

const t = tempDir('llm-bip-cuda-');
afterAll(() => t.cleanup());

/** A fake onnxruntime-node install: package.json with `version`, and its linux/x64 binary folder. */
function fakeOrt(name: string, version: string, withProvider: boolean): string {
  const pkg = join(t.dir, name, 'onnxruntime-node');
  const bin = join(pkg, 'bin', 'napi-v6', 'linux', 'x64');
  mkdirSync(bin, { recursive: true });
  writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: 'onnxruntime-node', version }));
  if (withProvider) for (const f of CUDA_PROVIDER.files) writeFileSync(join(bin, f.name), 'not a real library');
  return bin;
}

function fakeLibs(dir: string, sonames: string[]): string {
  mkdirSync(dir, { recursive: true });
  for (const s of sonames) writeFileSync(join(dir, s), 'not a real library');
  return dir;
}

const linux = { platform: 'linux', arch: 'x64' };

describe('CUDA library discovery', () => {
  it('orders candidates: --cuda-lib, $CUDA_HOME, LD_LIBRARY_PATH, system, then Python site-packages', () => {
    const c = cudaLibraryCandidates({
      cudaLibDirs: ['/x/lib'],
      env: { CUDA_HOME: '/cuda', LD_LIBRARY_PATH: '/ld1::/ld2' },
      pythonSitePackages: ['/venv/lib/python3.12/site-packages'],
    });
    const sources = c.map((d) => d.source);
    expect(c[0]).toEqual({ dir: '/x/lib', source: '--cuda-lib' });
    expect(c[1]).toEqual({ dir: '/cuda/lib64', source: '$CUDA_HOME' });
    expect(c.filter((d) => d.source === 'LD_LIBRARY_PATH').map((d) => d.dir)).toEqual(['/ld1', '/ld2']);
    expect(sources.indexOf('LD_LIBRARY_PATH')).toBeLessThan(sources.indexOf('system'));
    expect(c.slice(-2).map((d) => d.dir)).toEqual(['/venv/lib/python3.12/site-packages/nvidia/cu13/lib', '/venv/lib/python3.12/site-packages/nvidia/cudnn/lib']);
  });

  it("finds a PyTorch environment's nvidia/cu13/lib and nvidia/cudnn/lib, and names what is missing", () => {
    const sp = join(t.dir, 'site-packages');
    fakeLibs(join(sp, 'nvidia', 'cu13', 'lib'), ['libcudart.so.13', 'libcublas.so.13', 'libcublasLt.so.13', 'libcufft.so.12']);
    fakeLibs(join(sp, 'nvidia', 'cudnn', 'lib'), ['libcudnn.so.9']);
    const r = locateCudaLibraries(cudaLibraryCandidates({ pythonSitePackages: [sp] }).filter((c) => c.source !== 'system'));
    const bySoname = Object.fromEntries(r.libraries.map((l) => [l.soname, l]));
    expect(bySoname['libcublas.so.13']?.path).toBe(join(sp, 'nvidia', 'cu13', 'lib', 'libcublas.so.13'));
    expect(bySoname['libcublas.so.13']?.source).toBe(`python ${sp}`);
    expect(bySoname['libcudnn.so.9']?.path).toBe(join(sp, 'nvidia', 'cudnn', 'lib', 'libcudnn.so.9'));
    expect(r.missingRequired).toEqual(['libcurand.so.10']);
    expect(r.missingOptional).toEqual([]);
  });

  it('an explicit folder wins over a later one; the loader cache answers for the rest', () => {
    const a = fakeLibs(join(t.dir, 'a'), ['libcudart.so.13']);
    const b = fakeLibs(join(t.dir, 'b'), ['libcudart.so.13', 'libcublas.so.13']);
    const r = locateCudaLibraries([{ dir: a, source: '--cuda-lib' }, { dir: b, source: '$CUDA_HOME' }], { inLoaderCache: (s) => s === 'libcurand.so.10' });
    const bySoname = Object.fromEntries(r.libraries.map((l) => [l.soname, l]));
    expect(bySoname['libcudart.so.13']).toMatchObject({ path: join(a, 'libcudart.so.13'), source: '--cuda-lib' });
    expect(bySoname['libcublas.so.13']).toMatchObject({ source: '$CUDA_HOME' });
    expect(bySoname['libcurand.so.10']).toMatchObject({ source: 'system loader cache (ld.so.cache)' });
    expect(bySoname['libcurand.so.10']?.path).toBeUndefined();
    expect(r.missingRequired).toEqual(['libcublasLt.so.13']);
    expect(r.missingOptional).toEqual(['libcufft.so.12', 'libcudnn.so.9']);
  });
});

describe('cudaUnavailableReason (the auto policy, without a GPU)', () => {
  const all = () => true;
  it('off Linux x64 it says so', () => {
    expect(cudaUnavailableReason(fakeOrt('mac', '1.29.0', true), { platform: 'darwin', arch: 'arm64', findable: all })).toMatch(/Linux x64 only \(this is darwin arm64\)/);
  });

  it('without the provider it points at `llm-bip setup cuda`', () => {
    const bin = fakeOrt('none', '1.29.0', false);
    expect(cudaUnavailableReason(bin, { ...linux, findable: all })).toBe(
      `libonnxruntime_providers_cuda.so not found in ${bin} — run \`llm-bip setup cuda\` (installs ORT 1.29.0's CUDA 13 provider from the npm registry)`,
    );
  });

  it('a provider beside a core of another version is refused, not tried', () => {
    const r = cudaUnavailableReason(fakeOrt('v130', '1.30.0', true), { ...linux, findable: all });
    expect(r).toMatch(/is ORT 1\.29\.0's but onnxruntime-node is 1\.30\.0 .*must match its core exactly/);
  });

  it('names the driver, then the missing CUDA 13 libraries', () => {
    const bin = fakeOrt('nolibs', '1.29.0', true);
    expect(cudaUnavailableReason(bin, { ...linux, findable: () => false })).toMatch(/^libcuda\.so\.1 \(the NVIDIA driver\) not found/);
    const r = cudaUnavailableReason(bin, { ...linux, findable: (s) => s === 'libcuda.so.1' || s === 'libcudart.so.13' });
    expect(r).toMatch(/^CUDA 13 libraries not found: libcublasLt\.so\.13, libcublas\.so\.13, libcurand\.so\.10 — run `llm-bip setup cuda`/);
  });

  it("is satisfied by setup's record when the loader does not find the libraries itself", () => {
    const bin = fakeOrt('recorded', '1.29.0', true);
    const libs = fakeLibs(join(t.dir, 'recorded-libs'), ['libcudart.so.13', 'libcublasLt.so.13', 'libcublas.so.13', 'libcurand.so.10']);
    const libraries = Object.fromEntries(['libcudart.so.13', 'libcublasLt.so.13', 'libcublas.so.13', 'libcurand.so.10'].map((s) => [s, join(libs, s)]));
    writeFileSync(join(bin, CUDA_RECORD_FILE), JSON.stringify({ provider: 'p', ortVersion: '1.29.0', libraries }));
    expect(readCudaRecord(bin)?.libraries).toEqual(libraries);
    const findable = (s: string) => s === 'libcuda.so.1';
    expect(cudaUnavailableReason(bin, { ...linux, findable })).toBeUndefined();
    // the fake files are no libraries: loading them names the file and the fix (the first CUDA call's doorstep)
    expect(() => prepareCudaLibraries(bin, { findable, env: {} })).toThrow(new RegExp(`could not load ${join(libs, 'libcudart.so.13').replace(/\./g, '\\.')}: .* re-run \`llm-bip setup cuda\``));
  });

  it('optional libraries that are absent are listed, not fatal', () => {
    const bin = fakeOrt('optional', '1.29.0', true);
    const env: NodeJS.ProcessEnv = {};
    expect(prepareCudaLibraries(bin, { env, findable: (s) => !s.startsWith('libcufft') && !s.startsWith('libcudnn') })).toEqual({ loaded: [], absent: ['libcufft.so.12', 'libcudnn.so.9'], tf32Off: true });
    expect(env.NVIDIA_TF32_OVERRIDE).toBe('0');
  });

  it('leaves TF32 alone when asked for it, or when the user set NVIDIA_TF32_OVERRIDE', () => {
    const bin = fakeOrt('tf32', '1.29.0', true);
    const all = () => true;
    const asked: NodeJS.ProcessEnv = {};
    expect(prepareCudaLibraries(bin, { env: asked, findable: all, tf32: true }).tf32Off).toBe(false);
    expect(asked.NVIDIA_TF32_OVERRIDE).toBeUndefined();
    const user: NodeJS.ProcessEnv = { NVIDIA_TF32_OVERRIDE: '1' };
    expect(prepareCudaLibraries(bin, { env: user, findable: all }).tf32Off).toBe(false);
    expect(user.NVIDIA_TF32_OVERRIDE).toBe('1');
  });
});

describe('cudaDeviceId', () => {
  it('takes the option, else $LLM_BIP_CUDA_DEVICE, else 0', () => {
    expect(cudaDeviceId(2, { LLM_BIP_CUDA_DEVICE: '1' })).toBe(2);
    expect(cudaDeviceId(undefined, { LLM_BIP_CUDA_DEVICE: '1' })).toBe(1);
    expect(cudaDeviceId(undefined, {})).toBe(0);
    expect(() => cudaDeviceId(undefined, { LLM_BIP_CUDA_DEVICE: 'gpu0' })).toThrow(/LLM_BIP_CUDA_DEVICE=gpu0/);
  });
});
