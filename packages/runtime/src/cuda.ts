// The CUDA execution provider: which provider build we use, where its CUDA libraries are, and how they
// reach the process. onnxruntime-node's own installer fetches the CUDA provider from NuGet (CUDA 12 only,
// and pnpm skips the script), so `llm-bip setup cuda` installs ORT 1.29.0's CUDA 13 provider from the npm
// registry instead (cuda-setup.ts) and records here, beside onnxruntime-node's core, where it found the
// CUDA 13 runtime libraries. The runtime then loads those libraries by absolute path just before the
// first CUDA session, so the provider's DT_NEEDED entries resolve without LD_LIBRARY_PATH.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ortBinaryDir, sharedLibraryFindable } from './ep-probe.js';

/** The provider build this llm-bip version was checked against (sha256 of each file it installs). */
export const CUDA_PROVIDER = {
  /** the onnxruntime-node core version the provider was built with; a provider must match its core exactly */
  ortVersion: '1.29.0',
  cudaMajor: 13,
  /** npm package: a repackaging of Microsoft.ML.OnnxRuntime.Gpu.Linux 1.29.0 (NuGet) for Unity, MIT */
  npmPackage: 'com.github.asus4.onnxruntime.linux-x64-gpu',
  npmVersion: '0.4.9',
  files: [
    {
      name: 'libonnxruntime_providers_cuda.so',
      pathInPackage: 'package/Plugins/Linux/x64/libonnxruntime_providers_cuda.so',
      bytes: 229_780_440,
      sha256: '56cf3254b118ad837ccc4ed8f6d1b23504bbf7ef91b34cbc0b289cb7f10b3037',
    },
    {
      name: 'libonnxruntime_providers_shared.so',
      pathInPackage: 'package/Plugins/Linux/x64/libonnxruntime_providers_shared.so',
      bytes: 14_632,
      sha256: 'c6a12593396095f5670160e284c35d1700b7708cf3037b7042e2a5200ccae772',
    },
  ],
} as const;

export interface CudaLibrary {
  soname: string;
  what: string;
  /** the provider cannot load without it; the optional ones are loaded lazily by ORT 1.29 */
  required: boolean;
}

/** What the provider needs from CUDA 13, in the order they are loaded (a library before its users). */
export const CUDA_LIBRARIES: readonly CudaLibrary[] = [
  { soname: 'libcudart.so.13', what: 'CUDA runtime', required: true },
  { soname: 'libcublasLt.so.13', what: 'cuBLASLt', required: true },
  { soname: 'libcublas.so.13', what: 'cuBLAS', required: true },
  { soname: 'libcurand.so.10', what: 'cuRAND', required: true },
  { soname: 'libcufft.so.12', what: 'cuFFT (optional: FFT ops only)', required: false },
  { soname: 'libcudnn.so.9', what: 'cuDNN 9 (optional: Conv-type ops; decoder LLM graphs use none)', required: false },
];

/** The NVIDIA driver's library; it comes with the driver, never from us. */
export const CUDA_DRIVER_LIBRARY = 'libcuda.so.1';

/** A folder that may hold CUDA libraries and where the idea to look there came from. */
export interface LibraryDir {
  dir: string;
  source: string;
}

export interface LocatedLibrary extends CudaLibrary {
  /** absolute path, or undefined when only the system loader's cache knows it */
  path?: string;
  source?: string;
}

export interface CudaLibraryReport {
  libraries: LocatedLibrary[];
  missingRequired: string[];
  missingOptional: string[];
}

const systemDirs = ['/usr/local/cuda/lib64', '/usr/local/cuda/targets/x86_64-linux/lib', '/usr/lib/x86_64-linux-gnu', '/usr/lib64', '/usr/lib', '/usr/local/lib'];

/**
 * Where to look for CUDA 13 libraries, first match wins: explicit folders, $CUDA_HOME (or $CUDA_PATH),
 * LD_LIBRARY_PATH, the usual system folders, then each Python environment's pip wheels (nvidia/cu13/lib
 * and nvidia/cudnn/lib under site-packages: PyTorch's CUDA 13 builds bring them).
 */
export function cudaLibraryCandidates(opts: { cudaLibDirs?: readonly string[]; env?: NodeJS.ProcessEnv; pythonSitePackages?: readonly string[] }): LibraryDir[] {
  const env = opts.env ?? {};
  const out: LibraryDir[] = [];
  for (const d of opts.cudaLibDirs ?? []) out.push({ dir: d, source: '--cuda-lib' });
  for (const key of ['CUDA_HOME', 'CUDA_PATH'] as const) {
    const home = env[key];
    if (home) for (const sub of ['lib64', 'lib', 'targets/x86_64-linux/lib']) out.push({ dir: join(home, sub), source: `$${key}` });
  }
  for (const d of (env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean)) out.push({ dir: d, source: 'LD_LIBRARY_PATH' });
  for (const d of systemDirs) out.push({ dir: d, source: 'system' });
  for (const sp of opts.pythonSitePackages ?? []) {
    for (const sub of ['nvidia/cu13/lib', 'nvidia/cudnn/lib']) out.push({ dir: join(sp, sub), source: `python ${sp}` });
  }
  const seen = new Set<string>();
  return out.filter((c) => (seen.has(c.dir) ? false : (seen.add(c.dir), true)));
}

/** Find each CUDA library in the candidate folders; `inLoaderCache` answers for the system loader's cache. */
export function locateCudaLibraries(
  candidates: readonly LibraryDir[],
  deps: { exists?: (path: string) => boolean; inLoaderCache?: (soname: string) => boolean } = {},
): CudaLibraryReport {
  const exists = deps.exists ?? existsSync;
  const libraries: LocatedLibrary[] = CUDA_LIBRARIES.map((lib) => {
    const hit = candidates.find((c) => exists(join(c.dir, lib.soname)));
    if (hit) return { ...lib, path: join(hit.dir, lib.soname), source: hit.source };
    if (deps.inLoaderCache?.(lib.soname)) return { ...lib, source: 'system loader cache (ld.so.cache)' };
    return { ...lib };
  });
  const missing = (required: boolean) => libraries.filter((l) => l.required === required && l.source === undefined).map((l) => l.soname);
  return { libraries, missingRequired: missing(true), missingOptional: missing(false) };
}

/** What `llm-bip setup cuda` leaves beside the provider: the libraries' paths, for the runtime to load. */
export interface CudaRecord {
  provider: string;
  ortVersion: string;
  /** soname -> absolute path (only those found by path) */
  libraries: Record<string, string>;
}

export const CUDA_RECORD_FILE = 'llm-bip-cuda.json';

export function readCudaRecord(binDir: string): CudaRecord | undefined {
  try {
    const r = JSON.parse(readFileSync(join(binDir, CUDA_RECORD_FILE), 'utf8')) as Partial<CudaRecord>;
    if (typeof r.provider !== 'string' || typeof r.ortVersion !== 'string' || typeof r.libraries !== 'object' || r.libraries === null) return undefined;
    return r as CudaRecord;
  } catch {
    return undefined;
  }
}

/** The onnxruntime-node version whose binaries sit in `binDir` (…/onnxruntime-node/bin/napi-v6/OS/ARCH). */
export function ortCoreVersion(binDir: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(join(binDir, '..', '..', '..', '..', 'package.json'), 'utf8')) as { version?: string }).version;
  } catch {
    return undefined;
  }
}

export interface CudaProbeDeps {
  platform?: string;
  arch?: string;
  exists?: (path: string) => boolean;
  /** whether the system loader finds a library by soname (LD_LIBRARY_PATH, ld.so.cache, usual folders) */
  findable?: (soname: string) => boolean;
}

/** Why the CUDA EP cannot load from `binDir`, or undefined when the provider, its core and its libraries are all there. */
export function cudaUnavailableReason(binDir: string, deps: CudaProbeDeps = {}): string | undefined {
  const platform = deps.platform ?? process.platform;
  const arch = deps.arch ?? process.arch;
  const exists = deps.exists ?? existsSync;
  const findable = deps.findable ?? sharedLibraryFindable;
  if (platform !== 'linux' || arch !== 'x64') {
    return `llm-bip sets up the CUDA EP on Linux x64 only (this is ${platform} ${arch})`;
  }
  const provider = CUDA_PROVIDER.files[0].name;
  if (!exists(join(binDir, provider))) {
    return `${provider} not found in ${binDir} — run \`llm-bip setup cuda\` (installs ORT ${CUDA_PROVIDER.ortVersion}'s CUDA ${CUDA_PROVIDER.cudaMajor} provider from the npm registry)`;
  }
  const core = ortCoreVersion(binDir);
  if (core !== CUDA_PROVIDER.ortVersion) {
    return (
      `the CUDA provider in ${binDir} is ORT ${CUDA_PROVIDER.ortVersion}'s but onnxruntime-node is ${core ?? 'of unknown version'} ` +
      `(a provider must match its core exactly; a mismatched one may load and misbehave) — use onnxruntime-node ${CUDA_PROVIDER.ortVersion}`
    );
  }
  if (!findable(CUDA_DRIVER_LIBRARY)) return `${CUDA_DRIVER_LIBRARY} (the NVIDIA driver) not found — no NVIDIA GPU driver on this machine`;
  const record = readCudaRecord(binDir);
  const missing = CUDA_LIBRARIES.filter((l) => l.required)
    .filter((l) => !findable(l.soname) && !(record?.libraries[l.soname] !== undefined && exists(record.libraries[l.soname]!)))
    .map((l) => l.soname);
  if (missing.length) {
    return (
      `CUDA ${CUDA_PROVIDER.cudaMajor} libraries not found: ${missing.join(', ')} — run \`llm-bip setup cuda\` ` +
      `(it looks in $CUDA_HOME, the loader path and Python's nvidia/cu13/lib; or give --cuda-lib DIR)`
    );
  }
  return undefined;
}

/** Why the CUDA EP cannot load here, or undefined when provider, core and CUDA libraries are all present. */
export function cudaMissingReason(binDir = ortBinaryDir()): string | undefined {
  return cudaUnavailableReason(binDir);
}

// glibc's RTLD_NODELETE (Node does not export it): keeps a library mapped after process.dlopen closes it
const RTLD_NOW = 2;
const RTLD_GLOBAL = 256;
const RTLD_NODELETE = 0x1000;
const preloaded = new Map<string, string | undefined>();

/**
 * Load one shared library by absolute path into this process so that later lookups by its soname (the
 * provider's DT_NEEDED entries) resolve to it. process.dlopen loads it, then rejects it as "not a Node
 * module"; RTLD_NODELETE keeps it loaded. Returns an error text, or undefined on success.
 */
export function preloadLibrary(path: string): string | undefined {
  if (preloaded.has(path)) return preloaded.get(path);
  let result: string | undefined;
  try {
    process.dlopen({ exports: {} }, path, RTLD_NOW | RTLD_GLOBAL | RTLD_NODELETE);
  } catch (err) {
    const text = err instanceof Error ? err.message : String(err);
    if (!/did not self-register/.test(text)) result = text;
  }
  preloaded.set(path, result);
  return result;
}

export interface CudaPreparation {
  /** libraries loaded by path from the setup record */
  loaded: string[];
  /** optional libraries absent (said in the EP report line) */
  absent: string[];
  /** whether TF32 is off for this process (NVIDIA_TF32_OVERRIDE=0) */
  tf32Off: boolean;
}

/**
 * Before the first CUDA session: load each CUDA library that setup recorded by its path (setup's choice is
 * what runs, also when the system loader would find another copy), and turn TF32 off unless `tf32` is
 * true. Throws an Error naming the library when a required one fails to load.
 *
 * TF32: ORT's CUDA EP runs fp32 MatMul in TF32 by default (provider option use_tf32, which
 * onnxruntime-node's binding cannot set). Measured on the H200: with TF32, LLM-BIP scores differed from
 * the CPU EP's by up to 7.8e-5 relative and one plan changed; with NVIDIA_TF32_OVERRIDE=0 (read by cuBLAS)
 * by 1.9e-7 and every plan was equal. Exactness first, so TF32 is off unless asked for.
 */
export function prepareCudaLibraries(
  binDir: string,
  deps: { findable?: (soname: string) => boolean; exists?: (p: string) => boolean; tf32?: boolean; env?: NodeJS.ProcessEnv } = {},
): CudaPreparation {
  const findable = deps.findable ?? sharedLibraryFindable;
  const exists = deps.exists ?? existsSync;
  const env = deps.env ?? process.env;
  const record = readCudaRecord(binDir);
  const loaded: string[] = [];
  const absent: string[] = [];
  for (const lib of CUDA_LIBRARIES) {
    const path = record?.libraries[lib.soname];
    if (path === undefined || !exists(path)) {
      if (!lib.required && !findable(lib.soname)) absent.push(lib.soname);
      continue;
    }
    const failure = preloadLibrary(path);
    if (failure === undefined) loaded.push(path);
    else if (lib.required) throw new Error(`could not load ${path}: ${failure} — re-run \`llm-bip setup cuda\``);
    else absent.push(lib.soname);
  }
  if (!deps.tf32 && env.NVIDIA_TF32_OVERRIDE === undefined) env.NVIDIA_TF32_OVERRIDE = '0';
  return { loaded, absent, tf32Off: env.NVIDIA_TF32_OVERRIDE === '0' };
}

/** The CUDA device to use: the option, else $LLM_BIP_CUDA_DEVICE, else 0. */
export function cudaDeviceId(option?: number, env: NodeJS.ProcessEnv = process.env): number {
  if (option !== undefined) return option;
  const raw = env.LLM_BIP_CUDA_DEVICE;
  const n = raw === undefined ? 0 : Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`LLM_BIP_CUDA_DEVICE=${raw}: give a device ordinal such as 0`);
  return n;
}
