import { statSync } from 'node:fs';
import { dirname } from 'node:path';
import { readGraphOutputNames } from '@llm-bip/onnx-io';
import { presentPattern } from './causal-lm.js';
import type { GreedyLoopResult, GreedyPlan } from './decode-loop.js';
import { cudaDeviceId, cudaMissingReason, prepareCudaLibraries } from './cuda.js';
import { ortBinaryDir, summariseOrtError, webgpuMissingReason } from './ep-probe.js';
import { EpUnavailableError, FeedValidationError, SessionInterruptedError, SessionLoadError, SessionRunError } from './errors.js';
import { ort, type OrtTensor, type OrtValueMetadata } from './ort.js';
import { hostReady, hostRequest } from './session-host.js';
import type { WireTensor } from './session-wire.js';

export type ExecutionProvider = 'cuda' | 'webgpu' | 'cpu';
export type EpChoice = ExecutionProvider | 'auto';
export type GraphOptimization = 'disabled' | 'basic' | 'extended' | 'all';

export interface SessionOptions {
  /** 'auto' tries cuda, then webgpu, then cpu. Default 'auto'. */
  ep?: EpChoice;
  /** intra-op threads (CPU EP); default: ORT's choice (all cores). */
  threads?: number;
  /** ORT graph optimisation level; default 'all'. */
  graphOptimization?: GraphOptimization;
  /**
   * Let the CPU EP pre-pack constant MatMul/Gemm weights into its kernel layout at load (default true).
   * false saves that copy and its time (about 0.3 s for a 180 MB weight) for sessions that run only a few
   * matrix-vector products; the products' float32 rounding differs slightly from the packed kernels'.
   */
  prepack?: boolean;
  /**
   * CPU EP, models with float16 weights: keep them float16 in memory, once. By default ORT 1.29 on x64
   * turns the Cast(float16 -> float32) it puts before kernels without a float16 version (the FFN's
   * MatMuls, next to the fused SiLU) into float32 copies of those weights at load
   * (FuseFp16InitializerToFp32NodeTransformer): +0.27 GB per LLaMA-2-7B layer, 1.7x the weights at 32
   * layers. With this set, that transformer is off (the casts run per run, one weight at a time) and so
   * are the CPU memory arena and the memory pattern, which would otherwise keep every run's float32
   * temporaries allocated: memory stays near the weights' size plus the largest float32 weight
   * (BENCHMARKS.md, "Evaluation memory on fp16 models"). No effect on other EPs; float32 models only
   * lose the arena. Default false.
   */
  keepFp16Weights?: boolean;
  /** ORT log severity, 0 verbose .. 4 fatal; default 3 (errors only). */
  logSeverity?: 0 | 1 | 2 | 3 | 4;
  /** CUDA device ordinal; default $LLM_BIP_CUDA_DEVICE, else 0. */
  deviceId?: number;
  /** let the CUDA EP use TF32 for fp32 MatMul (faster, about 1e-4 relative off the CPU EP); default false */
  cudaTf32?: boolean;
  /**
   * Keep the KV-cache outputs (present.N.*) on the device, so greedyDecode feeds them back without a host
   * round trip. onnxruntime-node 1.29 can do that only with WebGPU buffers (preferredOutputLocation
   * 'gpu-buffer'), so this acts on the WebGPU EP only: the CUDA EP cannot (1.29's binding has no CUDA
   * device outputs; the report line says so) and the CPU EP has no device. On WebGPU a present.* output
   * asked for through `run` is then an error (1.29 cannot read a device output back), and every run fetches
   * all outputs (session-worker.ts says why). Default false.
   */
  kvOnDevice?: boolean;
  /**
   * Where the initializers (weights) live on a device EP: 'arena' (ORT's default: carved out of the BFC
   * arena, which grows by powers of two and never shrinks) or 'device' (each one allocated exactly by the
   * device allocator: session.use_device_allocator_for_initializers). Default: 'device' on CUDA, where
   * the arena held a 1 GB fp16 table in 2.1 GB after one run (BENCHMARKS.md "Issue 13 follow-up on the
   * H200"); 'arena' elsewhere.
   */
  initializerAllocator?: 'arena' | 'device';
  /** ORT's memory pattern (one planned block per run for the intermediate tensors); default true. */
  memPattern?: boolean;
  /** Receives the one line saying which EP was used and why others were not. */
  onLog?: (line: string) => void;
}

export type Feeds = Record<string, OrtTensor>;

/** One ORT session with the EP that was actually used and feed validation on every run. */
export interface Session {
  readonly modelPath: string;
  readonly ep: ExecutionProvider;
  /** The line reported through onLog: EP used, and why the ones before it failed. */
  readonly epReport: string;
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly inputMetadata: readonly OrtValueMetadata[];
  readonly outputMetadata: readonly OrtValueMetadata[];
  /** Milliseconds spent creating the session (the EP that succeeded). */
  readonly loadMs: number;
  /**
   * Run once. Feeds cross to the session host thread as copies, except those named in `opts.move`: their
   * buffers are moved there (detached here, so the caller must not read them afterwards), which saves a
   * copy of each at about 1 GB/s (structured clone) for large temporaries.
   */
  run(feeds: Feeds, outputNames?: readonly string[], opts?: { move?: readonly string[] }): Promise<Record<string, OrtTensor>>;
  /**
   * A whole greedy decoding call on the session host thread, one message: the KV cache is fed back
   * there, only the generated ids come back (greedyDecode's fast path). `prefillFeeds` are validated
   * like run's. Absent on sessions that wrap another one; greedyDecode then runs its loop through `run`.
   */
  generate?(plan: GreedyPlan, prefillFeeds: Feeds): Promise<GreedyLoopResult>;
  release(): Promise<void>;
}

const epLabel: Record<ExecutionProvider, string> = { cuda: 'CUDA', webgpu: 'WebGPU', cpu: 'CPU' };

/**
 * ORT's process-wide logger level (the host thread sets it once, at the first session). Provider-load
 * failures are reported by us in one line, so keep ORT's own copy of them quiet unless verbose logging
 * was asked for.
 */
function envLogLevel(logSeverity: number): 'verbose' | 'info' | 'warning' | 'error' | 'fatal' {
  const levels = ['verbose', 'info', 'warning', 'error', 'fatal'] as const;
  return logSeverity < 3 ? (levels[logSeverity] ?? 'warning') : 'fatal';
}

interface HostSession {
  sid: number;
  inputNames: string[];
  outputNames: string[];
  inputMetadata: OrtValueMetadata[];
  outputMetadata: OrtValueMetadata[];
}

/**
 * The onnxruntime-node options of a session on `ep` (exported for tests). `deviceOutputs`: outputs to keep
 * on the device as WebGPU buffers (kvOnDevice; other EPs leave them alone, see SessionOptions.kvOnDevice).
 */
export function ortOptions(ep: ExecutionProvider, o: SessionOptions, deviceOutputs: readonly string[] = []): ort.InferenceSession.SessionOptions {
  // onnxruntime-node's binding takes only deviceId for the CUDA EP; cuDNN is loaded lazily by ORT 1.29
  // and is needed by none of the ops of a decoder LLM, so its absence is reported, not fatal.
  const provider: ort.InferenceSession.ExecutionProviderConfig = ep === 'cuda' ? { name: 'cuda', deviceId: cudaDeviceId(o.deviceId) } : ep;
  const opts: ort.InferenceSession.SessionOptions = {
    executionProviders: [provider],
    graphOptimizationLevel: o.graphOptimization ?? 'all',
    logSeverityLevel: o.logSeverity ?? 3,
  };
  if (o.threads !== undefined) opts.intraOpNumThreads = o.threads;
  // names, not the plain 'gpu-buffer': 1.29's binding cannot download a device output, and logits must reach the host
  if (deviceOutputs.length && ep === 'webgpu') opts.preferredOutputLocation = Object.fromEntries(deviceOutputs.map((n) => [n, 'gpu-buffer' as const]));
  // onnxruntime-node passes `extra` as session config entries ("session.disable_prepacking")
  const extra: Record<string, Record<string, string>> = {};
  const session: Record<string, string> = {};
  if (o.prepack === false) session.disable_prepacking = '1';
  if ((o.initializerAllocator ?? (ep === 'cuda' ? 'device' : 'arena')) === 'device') session.use_device_allocator_for_initializers = '1';
  if (Object.keys(session).length) extra.session = session;
  if (o.memPattern === false) opts.enableMemPattern = false;
  if (o.keepFp16Weights && ep === 'cpu') {
    extra.optimization = { disable_specified_optimizers: FP16_WEIGHT_COPIES };
    opts.enableCpuMemArena = false;
    opts.enableMemPattern = false;
  }
  if (Object.keys(extra).length) opts.extra = extra;
  return opts;
}

/** The ORT 1.29 CPU graph transformer that stores float32 copies of float16 weights (keepFp16Weights). */
export const FP16_WEIGHT_COPIES = 'FuseFp16InitializerToFp32NodeTransformer';

/** ORT options for an in-memory model: its external initializers are read from `externalDataDir`. */
function inMemoryOptions(base: ort.InferenceSession.SessionOptions, externalDataDir: string): ort.InferenceSession.SessionOptions {
  const extra = (base.extra ?? {}) as { session?: Record<string, string> };
  return { ...base, extra: { ...extra, session: { ...extra.session, model_external_initializers_file_folder_path: externalDataDir } } };
}

/** Why `ep` cannot be used here without trying it (or undefined), and notes for the report line. */
function precheck(ep: ExecutionProvider, o: SessionOptions): { reason?: string; note?: string } {
  if (ep === 'webgpu') {
    const reason = webgpuMissingReason();
    return reason === undefined ? {} : { reason };
  }
  if (ep !== 'cuda') return {};
  const reason = cudaMissingReason();
  if (reason !== undefined) return { reason };
  try {
    const prepared = prepareCudaLibraries(ortBinaryDir(), { tf32: o.cudaTf32 ?? false });
    const notes = [
      `device ${cudaDeviceId(o.deviceId)}`,
      prepared.tf32Off ? 'TF32 off' : 'TF32 on',
      ...(prepared.loaded.length ? [`${prepared.loaded.length} CUDA libraries loaded as setup recorded`] : []),
      ...(prepared.absent.length ? [`absent, optional: ${prepared.absent.join(', ')}`] : []),
    ];
    return { note: notes.join(', ') };
  } catch (err) {
    return { reason: err instanceof Error ? err.message : String(err) };
  }
}

/**
 * A model held in memory (a derived graph: onnx-io's DerivedModelFile fits), or a file when `bytes` is
 * absent. `externalDataDir` (default: the folder of `path`) is where its external data is read from.
 */
export interface ModelSource {
  path: string;
  bytes?: Uint8Array;
  externalDataDir?: string;
}

/**
 * Create a session. `ep: 'auto'` tries cuda, then webgpu, then cpu and reports one line via onLog;
 * an explicit EP that fails throws EpUnavailableError with the reason.
 */
export async function createSession(model: string | ModelSource, options: SessionOptions = {}): Promise<Session> {
  const modelPath = typeof model === 'string' ? model : model.path;
  const inMemory = typeof model === 'string' || !model.bytes ? undefined : { bytes: model.bytes, externalDataDir: model.externalDataDir ?? dirname(model.path) };
  if (!inMemory) {
    try {
      statSync(modelPath);
    } catch {
      throw new SessionLoadError(`model file not found: ${modelPath} (pass the path of an .onnx file)`);
    }
  }
  await hostReady();
  const deviceOutputs = options.kvOnDevice ? readGraphOutputNames(inMemory ? inMemory.bytes : modelPath).filter((n) => presentPattern.test(n)) : [];
  const choice = options.ep ?? 'auto';
  const order: ExecutionProvider[] = choice === 'auto' ? ['cuda', 'webgpu', 'cpu'] : [choice];
  const failures: string[] = [];
  for (const ep of order) {
    const pre = precheck(ep, options);
    if (pre.reason !== undefined) {
      if (choice !== 'auto') throw new EpUnavailableError(ep, pre.reason);
      failures.push(`${epLabel[ep]} EP unavailable: ${pre.reason}`);
      continue;
    }
    const t0 = performance.now();
    let inner: HostSession;
    try {
      inner = (await hostRequest({
        op: 'create',
        path: modelPath,
        envLogLevel: envLogLevel(options.logSeverity ?? 3),
        ...(inMemory
          ? // ORT reads the external initializers from the original folder
            { bytes: inMemory.bytes, options: inMemoryOptions(ortOptions(ep, options, deviceOutputs), inMemory.externalDataDir) }
          : { options: ortOptions(ep, options, deviceOutputs) }),
      })) as HostSession;
    } catch (err) {
      if (err instanceof SessionInterruptedError || err instanceof SessionRunError) throw err;
      const reason = summariseOrtError(err);
      if (ep === 'cpu' || /protobuf|ModelProto|Load model|invalid model|No graph|Unsupported model IR/i.test(reason)) {
        throw new SessionLoadError(`could not load ${modelPath} on the ${epLabel[ep]} EP: ${reason}`);
      }
      if (choice !== 'auto') throw new EpUnavailableError(ep, reason);
      failures.push(`${epLabel[ep]} EP unavailable: ${reason}`);
      continue;
    }
    const loadMs = performance.now() - t0;
    const kvNote = !deviceOutputs.length ? [] : ep === 'webgpu' ? ['KV cache kept on the device'] : ep === 'cuda' ? ['KV cache returns to the host each step: onnxruntime-node 1.29 keeps outputs on the device only as WebGPU buffers'] : [];
    const why = [...(pre.note ? [pre.note] : []), ...kvNote, ...failures];
    const epReport = `execution provider: ${ep}` + (why.length ? ` (${why.join('; ')})` : choice === 'auto' ? ' (first choice)' : '');
    options.onLog?.(epReport);
    return wrapSession(inner, modelPath, ep, epReport, loadMs);
  }
  // unreachable: cpu either loads or throws
  throw new SessionLoadError(`no execution provider could load ${modelPath}: ${failures.join('; ')}`);
}

function describeFeeds(feeds: Feeds): string {
  return Object.entries(feeds)
    .map(([name, t]) => `${name}: ${t.type}[${t.dims.join(', ')}]`)
    .join('; ');
}

function describeInputs(meta: readonly OrtValueMetadata[]): string {
  return meta
    .map((m) => (m.isTensor ? `${m.name}: ${m.type}[${m.shape.join(', ')}]` : `${m.name}: (non-tensor)`))
    .join('; ');
}

/** Check feeds against the model's declared inputs: names, dtypes and fixed dims. */
export function validateFeeds(feeds: Feeds, inputs: readonly OrtValueMetadata[]): void {
  const problems: string[] = [];
  const declared = new Map(inputs.map((m) => [m.name, m]));
  for (const m of inputs) if (!(m.name in feeds)) problems.push(`missing input "${m.name}"`);
  for (const [name, t] of Object.entries(feeds)) {
    const m = declared.get(name);
    if (!m) {
      problems.push(`unknown input "${name}"`);
      continue;
    }
    if (!m.isTensor) continue;
    if (m.type !== t.type) problems.push(`"${name}" is ${t.type}, the model wants ${m.type}`);
    if (m.shape.length !== t.dims.length) {
      problems.push(`"${name}" has rank ${t.dims.length} [${t.dims.join(', ')}], the model wants rank ${m.shape.length}`);
    } else {
      m.shape.forEach((d, i) => {
        if (typeof d === 'number' && d >= 0 && d !== t.dims[i]) {
          problems.push(`"${name}" dim ${i} is ${t.dims[i]}, the model fixes it to ${d}`);
        }
      });
    }
  }
  if (problems.length) {
    throw new FeedValidationError(
      `feeds do not match the model: ${problems.join('; ')}.\n  model inputs: ${describeInputs(inputs)}\n  feeds given: ${describeFeeds(feeds)}`,
    );
  }
}

function toWire(t: OrtTensor): WireTensor {
  return { type: t.type, dims: [...t.dims], data: t.data };
}

function feedsToWire(feeds: Feeds): Record<string, WireTensor> {
  const wire: Record<string, WireTensor> = {};
  for (const [name, t] of Object.entries(feeds)) wire[name] = toWire(t);
  return wire;
}

function fromWire(t: WireTensor): OrtTensor {
  return new ort.Tensor(t.type as 'float32', t.data as Float32Array, t.dims);
}

function wrapSession(inner: HostSession, modelPath: string, ep: ExecutionProvider, epReport: string, loadMs: number): Session {
  const inputMetadata = [...inner.inputMetadata];
  const runError = (err: unknown, feeds: Feeds): Error => {
    if (err instanceof SessionInterruptedError || err instanceof SessionRunError) return err;
    return new SessionRunError(`ORT run failed on ${modelPath} (${ep}): ${summariseOrtError(err)}\n  feeds: ${describeFeeds(feeds)}`);
  };
  return {
    modelPath,
    ep,
    epReport,
    inputNames: [...inner.inputNames],
    outputNames: [...inner.outputNames],
    inputMetadata,
    outputMetadata: [...inner.outputMetadata],
    loadMs,
    async run(feeds, outputNames, opts) {
      validateFeeds(feeds, inputMetadata);
      try {
        // feeds are copied to the host thread (the caller keeps them) unless moved; outputs come back moved
        const moved = new Set<ArrayBuffer>();
        for (const name of opts?.move ?? []) {
          const buffer = (feeds[name]?.data as { buffer?: unknown } | undefined)?.buffer;
          if (buffer instanceof ArrayBuffer) moved.add(buffer);
        }
        const out = (await hostRequest({ op: 'run', sid: inner.sid, feeds: feedsToWire(feeds), ...(outputNames ? { outputNames: [...outputNames] } : {}) }, [...moved])) as Record<string, WireTensor>;
        const result: Record<string, OrtTensor> = {};
        for (const [name, t] of Object.entries(out)) result[name] = fromWire(t);
        return result;
      } catch (err) {
        throw runError(err, feeds);
      }
    },
    async generate(plan, prefillFeeds) {
      validateFeeds(prefillFeeds, inputMetadata);
      try {
        return (await hostRequest({ op: 'generate', sid: inner.sid, plan, feeds: feedsToWire(prefillFeeds) })) as GreedyLoopResult;
      } catch (err) {
        throw runError(err, prefillFeeds);
      }
    },
    release: async () => {
      await hostRequest({ op: 'release', sid: inner.sid });
    },
  };
}
