/**
 * The session host thread: every ORT session of the process lives here. onnxruntime-node 1.29 loads
 * and runs models synchronously on the calling JS thread, so a run on the main thread would block
 * signal handling until it returned; here it blocks only this thread. Imports nothing but Node,
 * onnxruntime-node and decode-loop.ts (itself import-free; types aside), so it loads the same way from
 * dist and, through tsx, from src.
 */
import { createRequire } from 'node:module';
import { parentPort } from 'node:worker_threads';
import { greedyLoop } from './decode-loop.js';
import type { HostReply, HostRequest, WireTensor } from './session-wire.js';

// required, not imported: the same module object whether this file runs as ESM (dist) or through
// tsx's CommonJS transform (src), where a default import of onnxruntime-node would be undefined
const ort = createRequire(import.meta.url)('onnxruntime-node') as typeof import('onnxruntime-node');
type OrtSession = import('onnxruntime-node').InferenceSession;
type OrtTensor = import('onnxruntime-node').Tensor;

interface HostedSession {
  inner: OrtSession;
  /**
   * Some outputs stay on the device (preferredOutputLocation: WebGPU buffers). onnxruntime-node 1.29 then
   * runs through one IoBinding per session that keeps every output ever bound and indexes the preferred
   * locations by position among the fetched outputs, so a run that fetches fewer outputs than an earlier
   * one fails ("Output count mismatch.") and a subset could land in the wrong place: every run fetches all
   * outputs, in model order, and lets go of those not asked for.
   */
  fetchAll: boolean;
}

const sessions = new Map<number, HostedSession>();
let nextId = 1;
let envConfigured = false;

function toWire(t: OrtTensor): WireTensor {
  return { type: t.type, dims: [...t.dims], data: t.data as WireTensor['data'] };
}

function fromWire(feeds: Record<string, WireTensor>): Record<string, OrtTensor> {
  const out: Record<string, OrtTensor> = {};
  for (const [name, t] of Object.entries(feeds)) out[name] = new ort.Tensor(t.type as 'float32', t.data as Float32Array, t.dims);
  return out;
}

function hosted(sid: number): HostedSession {
  const s = sessions.get(sid);
  if (!s) throw new Error(`session ${sid} was released`);
  return s;
}

/** One run; where outputs stay on the device, all are fetched and those not asked for are let go. */
async function runHosted(s: HostedSession, feeds: Record<string, OrtTensor>, outputNames?: readonly string[]): Promise<Record<string, OrtTensor>> {
  if (!s.fetchAll) return outputNames ? s.inner.run(feeds, outputNames) : s.inner.run(feeds);
  const all = await s.inner.run(feeds, s.inner.outputNames);
  if (!outputNames) return all;
  const out: Record<string, OrtTensor> = {};
  for (const [name, t] of Object.entries(all)) {
    if (outputNames.includes(name)) out[name] = t;
    else t.dispose();
  }
  return out;
}

async function handle(req: HostRequest): Promise<{ value: unknown; transfer: ArrayBuffer[] }> {
  switch (req.op) {
    case 'create': {
      if (!envConfigured) {
        // ORT's process-wide logger is set once, at the first session
        ort.env.logLevel = req.envLogLevel;
        envConfigured = true;
      }
      const inner = req.bytes ? await ort.InferenceSession.create(req.bytes, req.options) : await ort.InferenceSession.create(req.path, req.options);
      const sid = nextId++;
      sessions.set(sid, { inner, fetchAll: req.options.preferredOutputLocation !== undefined });
      const value = {
        sid,
        inputNames: [...inner.inputNames],
        outputNames: [...inner.outputNames],
        inputMetadata: [...inner.inputMetadata],
        outputMetadata: [...inner.outputMetadata],
      };
      return { value, transfer: [] };
    }
    case 'run': {
      const out = await runHosted(hosted(req.sid), fromWire(req.feeds), req.outputNames);
      const onDevice = Object.entries(out).filter(([, t]) => t.location !== 'cpu');
      if (onDevice.length) {
        for (const t of Object.values(out)) t.dispose();
        // 1.29's binding cannot download a device output ("not implemented")
        throw new Error(`${onDevice.map(([n]) => n).join(', ')} stay on the device in this session (kvOnDevice), and onnxruntime-node 1.29 cannot read them back — fetch other outputs, or create the session without kvOnDevice`);
      }
      const outputs: Record<string, WireTensor> = {};
      const buffers = new Set<ArrayBuffer>();
      for (const [name, t] of Object.entries(out)) {
        outputs[name] = toWire(t);
        const data = t.data as { buffer?: unknown };
        // moved, not copied, to the main thread (string tensors have no buffer)
        if (data.buffer instanceof ArrayBuffer) buffers.add(data.buffer);
      }
      return { value: outputs, transfer: [...buffers] };
    }
    case 'generate': {
      const s = hosted(req.sid);
      // the present.* outputs are fed back here as ORT returned them: no thread crossing, no copy by JS
      const value = await greedyLoop(req.plan, fromWire(req.feeds), {
        run: (feeds, fetches) => runHosted(s, feeds, fetches),
        int64: (values, dims) => new ort.Tensor('int64', values, dims),
      });
      return { value, transfer: [] };
    }
    case 'ping':
      return { value: null, transfer: [] };
    case 'release': {
      const s = sessions.get(req.sid);
      sessions.delete(req.sid);
      await s?.inner.release();
      return { value: null, transfer: [] };
    }
  }
}

parentPort!.on('message', (req: HostRequest) => {
  handle(req).then(
    ({ value, transfer }) => parentPort!.postMessage({ id: req.id, ok: true, value } satisfies HostReply, transfer),
    (err: unknown) => parentPort!.postMessage({ id: req.id, ok: false, message: err instanceof Error ? err.message : String(err) } satisfies HostReply),
  );
});
