// The messages between the main thread (session-host.ts) and the session host thread (session-worker.ts).
import type ort from 'onnxruntime-node';
import type { GreedyPlan } from './decode-loop.js';

/** A tensor as it crosses threads: plain data, rebuilt as an ort.Tensor on the other side. */
export interface WireTensor {
  type: ort.Tensor['type'];
  dims: number[];
  data: ort.Tensor.DataTypeMap[ort.Tensor.Type];
}

export type HostRequest =
  | {
      id: number;
      op: 'create';
      path: string;
      bytes?: Uint8Array;
      options: ort.InferenceSession.SessionOptions;
      envLogLevel: 'verbose' | 'info' | 'warning' | 'error' | 'fatal';
    }
  | { id: number; op: 'run'; sid: number; feeds: Record<string, WireTensor>; outputNames?: string[] }
  /** a whole greedy decoding call: the loop runs on the host thread (decode-loop.ts); the reply is its GreedyLoopResult */
  | { id: number; op: 'generate'; sid: number; plan: GreedyPlan; feeds: Record<string, WireTensor> }
  | { id: number; op: 'release'; sid: number }
  | { id: number; op: 'ping' };

/** Distributes over the request union, so each variant keeps its own fields. */
export type HostRequestBody = HostRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

export type HostReply = { id: number; ok: true; value: unknown } | { id: number; ok: false; message: string };
