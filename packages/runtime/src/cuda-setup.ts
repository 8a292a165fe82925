// What `llm-bip setup cuda` does with files and other programs: fetch the provider package with `npm pack`
// (not an npm dependency: the package ships a 150 MB Unity core we do not want in every install), unpack the
// two provider files with the system's `tar`, check their sha256, move them beside onnxruntime-node's core,
// ask Python environments where their site-packages are, and write the record the runtime reads.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  CUDA_DRIVER_LIBRARY,
  CUDA_PROVIDER,
  CUDA_RECORD_FILE,
  cudaLibraryCandidates,
  locateCudaLibraries,
  ortCoreVersion,
  type CudaRecord,
  type LocatedLibrary,
} from './cuda.js';
import { ortBinaryDir, sharedLibraryFindable } from './ep-probe.js';
import { RuntimeError } from './errors.js';

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** The provider package's file name as `npm pack` writes it. */
export function providerTarballName(): string {
  return `${CUDA_PROVIDER.npmPackage}-${CUDA_PROVIDER.npmVersion}.tgz`;
}

/**
 * The provider package's tarball: `from` when given (an offline machine), else the copy cached in
 * `cacheDir`, else `npm pack` from the registry into `cacheDir`.
 */
export function fetchCudaProviderPackage(opts: { cacheDir: string; from?: string; npm?: string }): { tarball: string; fetched: boolean } {
  if (opts.from !== undefined) {
    if (!existsSync(opts.from)) throw new RuntimeError(`${opts.from} does not exist: give the ${providerTarballName()} that \`npm pack ${CUDA_PROVIDER.npmPackage}@${CUDA_PROVIDER.npmVersion}\` writes`);
    return { tarball: opts.from, fetched: false };
  }
  const cached = join(opts.cacheDir, providerTarballName());
  if (existsSync(cached)) return { tarball: cached, fetched: false };
  mkdirSync(opts.cacheDir, { recursive: true });
  const spec = `${CUDA_PROVIDER.npmPackage}@${CUDA_PROVIDER.npmVersion}`;
  const r = spawnSync(opts.npm ?? 'npm', ['pack', spec, '--pack-destination', opts.cacheDir, '--json'], { encoding: 'utf8', maxBuffer: 16 << 20 });
  if (r.error || r.status !== 0 || !existsSync(cached)) {
    const why = r.error ? r.error.message : (r.stderr || r.stdout || `exit ${r.status}`).trim().split('\n').slice(-3).join(' ');
    throw new RuntimeError(
      `could not fetch ${spec} with npm pack: ${why} — check that npm reaches its registry, or fetch the tarball elsewhere and pass --from FILE.tgz`,
    );
  }
  return { tarball: cached, fetched: true };
}

export interface ProviderFileStatus {
  name: string;
  path: string;
  sha256: string;
  /** 'installed' now, 'present' already (same sha256), or 'would install' under check */
  action: 'installed' | 'present' | 'would install';
}

/** sha256 of the provider files already in `binDir` that match, by name. */
async function presentFiles(binDir: string): Promise<Set<string>> {
  const ok = new Set<string>();
  for (const f of CUDA_PROVIDER.files) {
    const p = join(binDir, f.name);
    if (existsSync(p) && statSync(p).size === f.bytes && (await sha256File(p)) === f.sha256) ok.add(f.name);
  }
  return ok;
}

/**
 * Put the provider files into `binDir` (onnxruntime-node's binary folder). Idempotent: files that are
 * there with the right sha256 are left alone, and `tarball` is only needed (and only called for) when one
 * is missing or different. Each file is unpacked to a temp folder in `binDir`, checked, then renamed.
 */
export async function installCudaProvider(binDir: string, tarball: () => string, opts: { check?: boolean } = {}): Promise<ProviderFileStatus[]> {
  const present = await presentFiles(binDir);
  const todo = CUDA_PROVIDER.files.filter((f) => !present.has(f.name));
  const status = (action: ProviderFileStatus['action']) => (f: (typeof CUDA_PROVIDER.files)[number]): ProviderFileStatus => ({ name: f.name, path: join(binDir, f.name), sha256: f.sha256, action });
  const result = CUDA_PROVIDER.files.filter((f) => present.has(f.name)).map(status('present'));
  if (todo.length === 0) return result;
  if (opts.check) return [...result, ...todo.map(status('would install'))];
  const tgz = tarball();
  const tmp = mkdtempSync(join(binDir, '.llm-bip-cuda-'));
  try {
    const r = spawnSync('tar', ['-xf', tgz, '-C', tmp, ...todo.map((f) => f.pathInPackage)], { encoding: 'utf8' });
    if (r.error || r.status !== 0) {
      throw new RuntimeError(`could not unpack ${tgz}: ${r.error?.message ?? r.stderr.trim()} — delete it and run \`llm-bip setup cuda\` again (it is fetched anew)`);
    }
    for (const f of todo) {
      const got = await sha256File(join(tmp, f.pathInPackage));
      if (got !== f.sha256) {
        throw new RuntimeError(
          `${f.name} in ${tgz} has sha256 ${got}, expected ${f.sha256}: this is not the ORT ${CUDA_PROVIDER.ortVersion} provider llm-bip was checked against — delete the file and run \`llm-bip setup cuda\` again`,
        );
      }
    }
    for (const f of todo) renameSync(join(tmp, f.pathInPackage), join(binDir, f.name));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return [...result, ...todo.map(status('installed'))];
}

/** Write the record the runtime reads (atomically: temp file + rename). */
export function writeCudaRecord(binDir: string, record: CudaRecord): string {
  const path = join(binDir, CUDA_RECORD_FILE);
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, `${JSON.stringify(record, null, 2)}\n`);
  renameSync(tmp, path);
  return path;
}

/**
 * site-packages folders of the given Python interpreters (default: $VIRTUAL_ENV's, $CONDA_PREFIX's and
 * `python3` on PATH). Interpreters that are missing or fail are skipped.
 */
export function pythonSitePackages(pythons?: readonly string[], env: NodeJS.ProcessEnv = process.env): string[] {
  const list = pythons ?? [
    ...(env.VIRTUAL_ENV ? [join(env.VIRTUAL_ENV, 'bin', 'python')] : []),
    ...(env.CONDA_PREFIX ? [join(env.CONDA_PREFIX, 'bin', 'python')] : []),
    'python3',
  ];
  const code = 'import site,sys\nfor p in site.getsitepackages()+[site.getusersitepackages()]: print(p)';
  const out: string[] = [];
  for (const py of list) {
    const r = spawnSync(py, ['-c', code], { encoding: 'utf8', timeout: 20_000 });
    if (r.error || r.status !== 0) continue;
    for (const line of r.stdout.split('\n').map((l) => l.trim())) if (line && !out.includes(line)) out.push(line);
  }
  return out;
}

export interface CudaSetupOptions {
  /** onnxruntime-node's binary folder to install into; default: the one this process loads */
  binDir?: string;
  /** only report; install and write nothing */
  check?: boolean;
  cudaLibDirs?: readonly string[];
  /** Python interpreters whose site-packages may hold nvidia/cu13/lib; default: see pythonSitePackages */
  pythons?: readonly string[];
  /** a local copy of the provider package (tarball), for machines without the registry */
  from?: string;
  /** where `npm pack` leaves the package (the CLI: $LLM_BIP_CACHE/cuda) */
  cacheDir: string;
  env?: NodeJS.ProcessEnv;
  npm?: string;
  /** whether the system loader finds a library by soname; default: sharedLibraryFindable */
  findable?: (soname: string) => boolean;
}

export interface CudaSetupReport {
  binDir: string;
  ortCore: string | null;
  ortWanted: string;
  provider: ProviderFileStatus[];
  tarball: { path: string; fetched: boolean } | null;
  driver: boolean;
  libraries: LocatedLibrary[];
  missingRequired: string[];
  missingOptional: string[];
  record: string | null;
  ready: boolean;
}

/**
 * `llm-bip setup cuda` as a function: install the provider beside the core (unless `check`), find the
 * CUDA 13 libraries, write the record the runtime loads them from, and say what is there and what is not.
 * Throws RuntimeError when the core does not match the provider (installing then would be a hazard).
 */
export async function setupCuda(o: CudaSetupOptions): Promise<CudaSetupReport> {
  const env = o.env ?? process.env;
  const binDir = o.binDir ?? ortBinaryDir();
  const findable = o.findable ?? sharedLibraryFindable;
  const core = ortCoreVersion(binDir);
  if (core !== CUDA_PROVIDER.ortVersion && !o.check) {
    throw new RuntimeError(
      `onnxruntime-node in ${binDir} is ${core ?? 'of unknown version'}, but the CUDA provider on npm is ORT ${CUDA_PROVIDER.ortVersion}'s ` +
        `and a provider must match its core exactly — install onnxruntime-node ${CUDA_PROVIDER.ortVersion} (llm-bip pins it)`,
    );
  }
  let tarball: CudaSetupReport['tarball'] = null;
  const provider = await installCudaProvider(
    binDir,
    () => {
      const got = fetchCudaProviderPackage({ cacheDir: o.cacheDir, ...(o.from !== undefined ? { from: o.from } : {}), ...(o.npm !== undefined ? { npm: o.npm } : {}) });
      tarball = { path: got.tarball, fetched: got.fetched };
      return got.tarball;
    },
    { check: o.check ?? false },
  );
  const candidates = cudaLibraryCandidates({ cudaLibDirs: o.cudaLibDirs ?? [], env, pythonSitePackages: pythonSitePackages(o.pythons, env) });
  const found = locateCudaLibraries(candidates, { inLoaderCache: findable });
  const driver = findable(CUDA_DRIVER_LIBRARY);
  let record: string | null = null;
  if (!o.check) {
    const libraries: Record<string, string> = {};
    for (const l of found.libraries) if (l.path !== undefined) libraries[l.soname] = resolve(l.path);
    record = writeCudaRecord(binDir, { provider: `${CUDA_PROVIDER.npmPackage}@${CUDA_PROVIDER.npmVersion}`, ortVersion: CUDA_PROVIDER.ortVersion, libraries });
  }
  const providerReady = provider.every((p) => p.action !== 'would install');
  return {
    binDir,
    ortCore: core ?? null,
    ortWanted: CUDA_PROVIDER.ortVersion,
    provider,
    tarball,
    driver,
    libraries: found.libraries,
    missingRequired: found.missingRequired,
    missingOptional: found.missingOptional,
    record,
    ready: providerReady && core === CUDA_PROVIDER.ortVersion && driver && found.missingRequired.length === 0,
  };
}
