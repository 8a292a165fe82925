/**
 * The session host thread: every ORT session of the process lives here. onnxruntime-node 1.29 loads
 * and runs models synchronously on the calling JS thread, so a run on the main thread would block
 * signal handling until it returned; here it blocks only this thread. Imports nothing but Node and
 * onnxruntime-node (types aside), so it loads the same way from dist and, through tsx, from src.
 */
import { createRequire } from 'node:module';
import { parentPort } from 'node:worker_threads';
import type { HostReply, HostRequest, WireTensor } from './session-wire.js';

// required, not imported: the same module object whether this file runs as ESM (dist) or through
// tsx's CommonJS transform (src), where a default import of onnxruntime-node would be undefined
const ort = createRequire(import.meta.url)('onnxruntime-node') as typeof import('onnxruntime-node');
type OrtSession = import('onnxruntime-node').InferenceSession;
type OrtTensor = import('onnxruntime-node').Tensor;

const sessions = new Map<number, OrtSession>();
let nextId = 1;
let envConfigured = false;

function toWire(t: OrtTensor): WireTensor {
  return { type: t.type, dims: [...t.dims], data: t.data as WireTensor['data'] };
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
      sessions.set(sid, inner);
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
      const inner = sessions.get(req.sid);
      if (!inner) throw new Error(`session ${req.sid} was released`);
      const feeds: Record<string, OrtTensor> = {};
      for (const [name, t] of Object.entries(req.feeds)) feeds[name] = new ort.Tensor(t.type as 'float32', t.data as Float32Array, t.dims);
      const out = req.outputNames ? await inner.run(feeds, req.outputNames) : await inner.run(feeds);
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
    case 'ping':
      return { value: null, transfer: [] };
    case 'release': {
      const inner = sessions.get(req.sid);
      sessions.delete(req.sid);
      await inner?.release();
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
