import type { GraphProto, ModelProto } from '../proto/types.js';

/**
 * A structural copy of a model for rewriting (probe graphs, pruned copies): every message, array and
 * attribute is new, while tensor bytes (Uint8Array) and int64 values (Long, immutable) are shared.
 * The rewrite primitives never write into tensor bytes, so the original stays intact.
 */
export function cloneModel(model: ModelProto): ModelProto {
  return deepCopy(model) as ModelProto;
}

export function cloneGraph(graph: GraphProto): GraphProto {
  return deepCopy(graph) as GraphProto;
}

function deepCopy(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (ArrayBuffer.isView(v)) return v; // tensor bytes: shared
  if (Array.isArray(v)) return v.map(deepCopy);
  if (isLong(v)) return v;
  const out: Record<string, unknown> = {};
  // own enumerable fields only: protobufjs keeps unset defaults on the prototype
  for (const [k, x] of Object.entries(v)) out[k] = deepCopy(x);
  return out;
}

function isLong(v: object): boolean {
  return 'low' in v && 'high' in v && 'unsigned' in v;
}
