/**
 * The main thread's side of the session host thread (session-worker.ts), through which every ORT
 * load, run and release of the process goes. Why a thread: onnxruntime-node 1.29 runs a model
 * synchronously on the calling JS thread (InferenceSession.run defers by setImmediate, then blocks),
 * so Ctrl-C could not even be noticed until a run returned: seconds on a tiny model, minutes at 7B.
 * On the host thread the main thread stays free: an interrupt rejects the runs in flight at once.
 *
 * What no thread can do is stop ORT mid-run: 1.29's binding reads no `terminate` run option, and the
 * native RunOptions of a run are out of JS's reach. A process that must end while work is in flight
 * (`sessionWorkInFlight()`) cannot use process.exit either: Node joins the thread, so exit waits for
 * the run, and the binding then aborts (exit 134) on the torn-down thread. It ends by its signal.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { SessionInterruptedError, SessionRunError } from './errors.js';
import type { HostReply, HostRequestBody } from './session-wire.js';

interface Pending {
  resolve(value: unknown): void;
  reject(err: Error): void;
  /** the caller was answered already (interrupted); the host's late reply is dropped */
  settled: boolean;
}

let worker: Worker | undefined;
let nextId = 1;
/** Requests posted to the host thread by this process so far (tests count the messages of a call). */
let posted = 0;
/** Requests posted and not answered by the host yet, interrupted ones included. */
const outstanding = new Map<number, Pending>();
const interruptSignals = new Set<AbortSignal>();

function startWorker(): Worker {
  const fromSource = import.meta.url.endsWith('.ts');
  // From source (vitest, `pnpm llm-bip`) the thread loads the TypeScript file through tsx's require
  // hook: Node 20 applies no `--import` loader hooks to worker threads.
  const w = fromSource
    ? new Worker("const { workerData } = require('node:worker_threads'); require(workerData.tsx).register(); require(workerData.entry);", {
        eval: true,
        workerData: { tsx: createRequire(import.meta.url).resolve('tsx/cjs/api'), entry: fileURLToPath(new URL('./session-worker.ts', import.meta.url)) },
      })
    : new Worker(new URL('./session-worker.js', import.meta.url));
  w.unref(); // an idle host must not keep the process alive
  w.on('message', (reply: HostReply) => {
    const p = outstanding.get(reply.id);
    if (!p) return;
    outstanding.delete(reply.id);
    if (outstanding.size === 0) w.unref();
    if (p.settled) return;
    p.settled = true;
    if (reply.ok) p.resolve(reply.value);
    else p.reject(new Error(reply.message));
  });
  const fail = (why: string): void => {
    if (worker === w) worker = undefined;
    for (const p of outstanding.values()) {
      if (!p.settled) p.reject(new SessionRunError(`the ONNX Runtime host thread ${why}; its sessions are gone — run the command again`));
      p.settled = true;
    }
    outstanding.clear();
  };
  w.on('error', (err) => fail(`failed: ${err.message}`));
  w.on('exit', (code) => fail(`exited (code ${code})`));
  return w;
}

function interrupted(): boolean {
  for (const s of interruptSignals) if (s.aborted) return true;
  return false;
}

/** Send one request to the host thread. Loads and runs are refused once an interrupt signal aborted. */
export function hostRequest(body: HostRequestBody, transfer: ArrayBuffer[] = []): Promise<unknown> {
  const stopping = interrupted();
  if (stopping && body.op !== 'release') return Promise.reject(new SessionInterruptedError());
  worker ??= startWorker();
  const w = worker;
  const id = nextId++;
  const answer = new Promise<unknown>((resolve, reject) => {
    if (outstanding.size === 0) w.ref(); // work in flight keeps the process alive until it is answered
    outstanding.set(id, { resolve, reject, settled: false });
    posted++;
    w.postMessage({ ...body, id }, transfer);
  });
  // After an interrupt a release is queued behind the run in flight: the caller unwinding need not wait
  if (stopping) {
    answer.catch(() => {});
    return Promise.resolve(null);
  }
  return answer;
}

/** How many requests this process has posted to the host thread (loads, runs, generate calls, releases, pings). */
export function hostRequestsPosted(): number {
  return posted;
}

/** Start the host thread (once) and wait until it answers, so session load times leave its start-up out. */
export async function hostReady(): Promise<void> {
  await hostRequest({ op: 'ping' });
}

/**
 * Interrupt ORT work when `signal` aborts: every load and run in flight, in any session, rejects at
 * once with SessionInterruptedError, and later ones are refused. The native work itself goes on until
 * it returns (see above). Returns a function that unbinds the signal.
 */
export function interruptSessionsOn(signal: AbortSignal): () => void {
  const onAbort = (): void => {
    for (const p of outstanding.values()) {
      if (p.settled) continue;
      p.settled = true;
      p.reject(new SessionInterruptedError());
    }
  };
  interruptSignals.add(signal);
  if (signal.aborted) onAbort();
  else signal.addEventListener('abort', onAbort, { once: true });
  return () => {
    signal.removeEventListener('abort', onAbort);
    interruptSignals.delete(signal);
  };
}

/**
 * Whether ORT may be computing on the host thread now (a load, run or release not answered yet,
 * interrupted ones included). While it is, process.exit would wait for it and then crash (134);
 * a process that must stop now ends by its signal instead.
 */
export function sessionWorkInFlight(): boolean {
  return outstanding.size > 0;
}
