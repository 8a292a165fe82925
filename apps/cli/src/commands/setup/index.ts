import { join } from 'node:path';
import { CUDA_PROVIDER, setupCuda, type CudaSetupReport } from '@llm-bip/runtime';
import { booleanOption, listOption, noExtraPositionals, requireExisting, requirePositional, stringOption } from '../../args.js';
import { defineCommand } from '../../command.js';
import { CliError, ExitCode, UsageError } from '../../errors.js';
import { cacheDir as llmBipCacheDir } from '../model-input.js';

const how =
  'How llm-bip uses them: the paths are recorded in llm-bip-cuda.json beside the provider, and the runtime loads ' +
  'each library by that path just before the first CUDA session, so no LD_LIBRARY_PATH and no change to the checked ' +
  'binaries (an RPATH would need patchelf and would change their sha256). A library known only to the ' +
  'system loader cache (ld.so.cache) is left to the loader.';

function describe(r: CudaSetupReport, check: boolean): string {
  const lines: string[] = [];
  const core = r.ortCore === r.ortWanted ? `onnxruntime-node ${r.ortCore} (matches the provider)` : `onnxruntime-node ${r.ortCore ?? '?'} — the provider needs ${r.ortWanted}`;
  lines.push(`CUDA EP: ORT ${CUDA_PROVIDER.ortVersion} CUDA ${CUDA_PROVIDER.cudaMajor} provider from npm ${CUDA_PROVIDER.npmPackage}@${CUDA_PROVIDER.npmVersion}`);
  lines.push(`  core      ${core}, in ${r.binDir}`);
  for (const p of r.provider) lines.push(`  provider  ${p.name}: ${p.action} (sha256 ${p.sha256.slice(0, 12)}…)`);
  if (r.tarball) lines.push(`  package   ${r.tarball.path} (${r.tarball.fetched ? 'fetched from the registry' : 'cached'})`);
  lines.push(`  driver    libcuda.so.1: ${r.driver ? 'found' : 'not found — install the NVIDIA driver'}`);
  lines.push('CUDA 13 libraries:');
  for (const l of r.libraries) {
    const where = l.source === undefined ? (l.required ? 'MISSING' : 'absent (optional)') : `${l.path ?? '(by name)'}  [${l.source}]`;
    lines.push(`  ${l.soname.padEnd(18)} ${where}  — ${l.what}`);
  }
  if (r.missingRequired.length) {
    lines.push(
      `Missing: ${r.missingRequired.join(', ')} — give --cuda-lib DIR, set $CUDA_HOME, or install them into a Python environment ` +
        '(pip install nvidia-cuda-runtime nvidia-cublas nvidia-curand: CUDA 13 wheels put them in site-packages/nvidia/cu13/lib) and pass --python.',
    );
  }
  lines.push(how);
  if (r.record) lines.push(`Record: ${r.record}`);
  lines.push(
    r.ready
      ? 'Ready: --ep cuda works, and --ep auto picks CUDA.'
      : check
        ? 'Not ready: run `llm-bip setup cuda` (without --check) once the missing parts are there.'
        : 'Not ready: --ep auto will fall back to WebGPU or CPU and say why.',
  );
  return lines.join('\n');
}

export const setupCommand = defineCommand({
  name: 'setup',
  summary: 'install optional parts: `setup cuda` fetches and installs the CUDA execution provider',
  usage: 'cuda [--check] [--cuda-lib DIR] [--python EXE] [--from FILE.tgz] [options]',
  description:
    `Fetches ORT ${CUDA_PROVIDER.ortVersion}'s CUDA ${CUDA_PROVIDER.cudaMajor} provider (npm package ${CUDA_PROVIDER.npmPackage}@${CUDA_PROVIDER.npmVersion}, ` +
    'a repackaging of Microsoft.ML.OnnxRuntime.Gpu.Linux) with `npm pack`, checks the sha256 of its two libraries, puts them beside ' +
    "onnxruntime-node's core, and finds the CUDA 13 runtime libraries (--cuda-lib, $CUDA_HOME, the system loader path, or a Python " +
    "environment's nvidia/cu13/lib and nvidia/cudnn/lib). Safe to run again: what is in place is left alone. Linux x64 only.",
  options: {
    check: { type: 'boolean', description: 'only report what is there and what is missing; install and write nothing' },
    'cuda-lib': { type: 'string', multiple: true, value: 'DIR', description: 'a folder holding libcudart.so.13, libcublas.so.13, … (repeatable; searched first)' },
    python: { type: 'string', multiple: true, value: 'EXE', description: "a Python interpreter whose site-packages may hold nvidia/cu13/lib (repeatable)", defaultText: '$VIRTUAL_ENV, $CONDA_PREFIX, python3' },
    from: { type: 'string', value: 'FILE', description: 'use this local copy of the provider package (a tarball from npm pack) instead of the registry' },
    cache: { type: 'string', value: 'DIR', description: 'where the fetched package is kept', defaultText: '$LLM_BIP_CACHE/cuda, i.e. ~/.cache/llm-bip/cuda' },
    'ort-dir': { type: 'string', value: 'DIR', description: "onnxruntime-node's binary folder to install into", defaultText: 'the one llm-bip loads' },
  },
  examples: [
    { command: 'llm-bip setup cuda', explain: 'fetch, check and install the provider; find CUDA 13 libraries' },
    { command: 'llm-bip setup cuda --check', explain: 'report only' },
    { command: 'llm-bip setup cuda --python ~/venvs/torch/bin/python', explain: "use a PyTorch environment's CUDA 13 libraries" },
  ],
  async run(ctx) {
    const target = requirePositional(ctx, 0, 'WHAT', 'setup', 'say what to set up: `llm-bip setup cuda`');
    if (target !== 'cuda') throw new UsageError(`setup ${target}: unknown; what can be set up is \`cuda\``);
    noExtraPositionals(ctx, 1, 'setup');
    const check = booleanOption(ctx.values, 'check');
    const from = stringOption(ctx.values, 'from');
    if (from !== undefined) requireExisting(from, 'provider package', 'file');
    const cudaLibDirs = listOption(ctx.values, 'cuda-lib') ?? [];
    for (const d of cudaLibDirs) requireExisting(d, '--cuda-lib folder', 'folder');
    const pythons = listOption(ctx.values, 'python');
    const binDir = stringOption(ctx.values, 'ort-dir');
    const cacheDir = stringOption(ctx.values, 'cache') ?? join(llmBipCacheDir(ctx.env), 'cuda');
    const bar = check ? undefined : ctx.progress({ label: 'setup cuda (fetch ~180 MB once, unpack, sha256)' });
    let report: CudaSetupReport;
    try {
      report = await setupCuda({
        check,
        cudaLibDirs,
        env: ctx.env,
        ...(pythons !== undefined ? { pythons } : {}),
        ...(from !== undefined ? { from } : {}),
        ...(binDir !== undefined ? { binDir } : {}),
        cacheDir,
      });
    } catch (err) {
      if (err instanceof Error && err.name === 'RuntimeError') throw new CliError(err.message, ExitCode.input, { cause: err });
      throw err;
    } finally {
      bar?.finish();
    }
    return { result: report, text: describe(report, check) };
  },
});
