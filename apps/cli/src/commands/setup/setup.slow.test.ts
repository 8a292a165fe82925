// Slow (it fetches the 179 MB provider package from the npm registry once; later runs use the copy kept in
// the repo's ignored .cache/). Everything `setup cuda` does up to the first CUDA call, with the real package.
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CUDA_PROVIDER, cudaUnavailableReason, readCudaRecord } from '@llm-bip/runtime';
import { tempDir } from '@llm-bip/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { cli } from '../../capture.testutil.js';

const cache = fileURLToPath(new URL('../../../../../.cache/llm-bip-cuda', import.meta.url));
const t = tempDir('llm-bip-cli-setup-slow-');
afterAll(() => t.cleanup());

describe('llm-bip setup cuda with the real package', () => {
  it('fetches (or reuses) the package, checks and installs both libraries, records the libraries; a second run changes nothing', async () => {
    const pkg = join(t.dir, 'onnxruntime-node');
    const bin = join(pkg, 'bin', 'napi-v6', 'linux', 'x64');
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(pkg, 'package.json'), JSON.stringify({ version: '1.29.0' }));
    const libs = join(t.dir, 'cuda13');
    mkdirSync(libs);
    const sonames = ['libcudart.so.13', 'libcublasLt.so.13', 'libcublas.so.13', 'libcurand.so.10'];
    for (const s of sonames) writeFileSync(join(libs, s), '');
    const args = ['setup', 'cuda', '--ort-dir', bin, '--cache', cache, '--cuda-lib', libs, '--python', join(t.dir, 'no-python'), '--json'];

    const first = await cli(args);
    expect(first.code, first.stderr).toBe(0);
    const r1 = JSON.parse(first.stdout).result;
    expect(r1.provider.map((p: { action: string }) => p.action)).toEqual(['installed', 'installed']);
    expect(r1.tarball.path).toBe(join(cache, `${CUDA_PROVIDER.npmPackage}-${CUDA_PROVIDER.npmVersion}.tgz`));
    for (const f of CUDA_PROVIDER.files) expect(statSync(join(bin, f.name)).size).toBe(f.bytes);
    expect(readCudaRecord(bin)).toEqual({
      provider: `${CUDA_PROVIDER.npmPackage}@${CUDA_PROVIDER.npmVersion}`,
      ortVersion: '1.29.0',
      libraries: Object.fromEntries(sonames.map((s) => [s, join(libs, s)])),
    });
    // the policy now sees everything it checks before ORT is asked (given a driver)
    expect(cudaUnavailableReason(bin, { platform: 'linux', arch: 'x64', findable: (s) => s === 'libcuda.so.1' })).toBeUndefined();

    const second = await cli(args);
    expect(second.code, second.stderr).toBe(0);
    const r2 = JSON.parse(second.stdout).result;
    expect(r2.provider.map((p: { action: string }) => p.action)).toEqual(['present', 'present']);
    expect(r2.tarball).toBeNull();
  }, 900_000);
});
