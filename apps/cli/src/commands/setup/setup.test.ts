import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '@llm-bip/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../errors.js';
import { cli } from '../../capture.testutil.js';

const t = tempDir('llm-bip-cli-setup-');
afterAll(() => t.cleanup());

/** A fake onnxruntime-node 1.29.0 binary folder, so tests never write into the real node_modules. */
function fakeOrtDir(name: string): string {
  const pkg = join(t.dir, name, 'onnxruntime-node');
  const bin = join(pkg, 'bin', 'napi-v6', 'linux', 'x64');
  mkdirSync(bin, { recursive: true });
  writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: 'onnxruntime-node', version: '1.29.0' }));
  return bin;
}

function fakeLibDir(name: string, sonames: string[]): string {
  const dir = join(t.dir, name);
  mkdirSync(dir, { recursive: true });
  for (const s of sonames) writeFileSync(join(dir, s), '');
  return dir;
}

const noPython = ['--python', join(t.dir, 'no-such-python')];

describe('llm-bip setup cuda', () => {
  it('--check reports provider, libraries and what is missing, and writes nothing', async () => {
    const bin = fakeOrtDir('check');
    const libs = fakeLibDir('libs-check', ['libcudart.so.13', 'libcublas.so.13', 'libcublasLt.so.13', 'libcurand.so.10']);
    const r = await cli(['setup', 'cuda', '--check', '--ort-dir', bin, '--cuda-lib', libs, ...noPython, '--json'], { env: { PATH: process.env.PATH ?? '' } });
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout).result;
    expect(doc.ortCore).toBe('1.29.0');
    expect(doc.provider.map((p: { name: string; action: string }) => `${p.name}: ${p.action}`)).toEqual([
      'libonnxruntime_providers_cuda.so: would install',
      'libonnxruntime_providers_shared.so: would install',
    ]);
    const cudart = doc.libraries.find((l: { soname: string }) => l.soname === 'libcudart.so.13');
    expect(cudart).toMatchObject({ path: join(libs, 'libcudart.so.13'), source: '--cuda-lib' });
    expect(doc.missingRequired).toEqual([]);
    expect(doc.record).toBeNull();
    expect(doc.ready).toBe(false); // the provider is not installed
    expect(readdirSync(bin)).toEqual([]);
  });

  it('the text report says what is missing and how the CLI will load the libraries', async () => {
    const bin = fakeOrtDir('text');
    const libs = fakeLibDir('libs-text', ['libcudart.so.13']);
    const r = await cli(['setup', 'cuda', '--check', '--ort-dir', bin, '--cuda-lib', libs, ...noPython], { env: { PATH: process.env.PATH ?? '' } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`libcudart.so.13    ${join(libs, 'libcudart.so.13')}  [--cuda-lib]`);
    expect(r.stdout).toMatch(/Missing: .*libcublas\.so\.13.* — give --cuda-lib DIR/);
    expect(r.stdout).toContain('the runtime loads each library by that path just before the first CUDA session');
    expect(r.stdout).toMatch(/^Not ready/m);
  });

  it('a package whose provider has the wrong sha256 is refused and nothing is installed', async () => {
    const bin = fakeOrtDir('badsha');
    const pkgRoot = join(t.dir, 'badpkg');
    const plugin = join(pkgRoot, 'package', 'Plugins', 'Linux', 'x64');
    mkdirSync(plugin, { recursive: true });
    writeFileSync(join(plugin, 'libonnxruntime_providers_cuda.so'), 'tampered');
    writeFileSync(join(plugin, 'libonnxruntime_providers_shared.so'), 'tampered');
    const tgz = join(t.dir, 'bad.tgz');
    expect(spawnSync('tar', ['-czf', tgz, '-C', pkgRoot, 'package']).status).toBe(0);
    const r = await cli(['setup', 'cuda', '--from', tgz, '--ort-dir', bin, ...noPython]);
    expect(r.code).toBe(ExitCode.input);
    expect(r.stderr).toMatch(/libonnxruntime_providers_cuda\.so in .*bad\.tgz has sha256 [0-9a-f]{64}, expected 56cf3254b118ad837ccc4ed8f6d1b23504bbf7ef91b34cbc0b289cb7f10b3037/);
    expect(readdirSync(bin)).toEqual([]);
  });

  it('refuses to install beside a core of another version', async () => {
    const bin = fakeOrtDir('v130');
    writeFileSync(join(bin, '..', '..', '..', '..', 'package.json'), JSON.stringify({ version: '1.30.0' }));
    const r = await cli(['setup', 'cuda', '--ort-dir', bin, ...noPython]);
    expect(r.code).toBe(ExitCode.input);
    expect(r.stderr).toMatch(/onnxruntime-node in .* is 1\.30\.0, but the CUDA provider on npm is ORT 1\.29\.0's/);
    expect(existsSync(join(bin, 'llm-bip-cuda.json'))).toBe(false);
  });

  it('setup of anything but cuda is a usage error', async () => {
    const r = await cli(['setup', 'rocm']);
    expect(r.code).toBe(ExitCode.usage);
    expect(r.stderr).toContain('what can be set up is `cuda`');
  });
});
