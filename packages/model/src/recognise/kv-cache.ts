/** KV-cache inputs/outputs of one layer: past_key_values.N.* concatenated with the new keys/values into present.N.*. */
import { type GraphIndex, type NodeProto, toNumber } from '@llm-bip/onnx-io';
import type { KvCacheRef } from '../spec.js';
import { PatternNotFound } from './errors.js';
import { isOp, nodeLabel } from './walk.js';

/** The graph input behind a tensor, looking through Cast/Identity and single-input Concat (TorchScript's cache copy). */
function graphInputBehind(ix: GraphIndex, name: string): string | undefined {
  let cur = name;
  for (let guard = 0; guard < 8; guard++) {
    if (ix.isGraphInput(cur) && !ix.initializer(cur)) return cur;
    const p = ix.producer(cur)?.node;
    if (!p || !p.input?.[0]) return undefined;
    const passes = p.opType === 'Cast' || p.opType === 'Identity' || (p.opType === 'Concat' && p.input.filter(Boolean).length === 1);
    if (!passes) return undefined;
    cur = p.input[0];
  }
  return undefined;
}

/** The graph output that is `name` or is copied from it by Identity/Cast. */
function graphOutputFrom(ix: GraphIndex, name: string): string | undefined {
  if (ix.isGraphOutput(name)) return name;
  for (const u of ix.consumers(name)) {
    if ((u.node.opType === 'Identity' || u.node.opType === 'Cast') && u.node.output?.[0] && ix.isGraphOutput(u.node.output[0])) return u.node.output[0];
  }
  return undefined;
}

/** Axis of the cache input that holds KV heads: the one whose static size is numKvHeads (layout [b, kv, t, d] -> 1). */
export function headAxisOf(ix: GraphIndex, input: string, numKvHeads: number): number {
  const vi = (ix.graph.input ?? []).find((v) => v.name === input);
  const dims = vi?.type?.tensorType?.shape?.dim ?? [];
  const fixed = dims.map((d) => (d.dimValue !== undefined && d.dimValue !== null && !d.dimParam ? toNumber(d.dimValue as never) : undefined));
  if (fixed.length === 4 && fixed[1] === numKvHeads) return 1;
  const idx = fixed.findIndex((v) => v === numKvHeads);
  return idx >= 0 ? idx : 1;
}

/**
 * Decomposed attention: the Concat (along the sequence axis) of a past input and the new keys/values,
 * among the layer's core nodes. `isKeyPath` tells a key-side node from a value-side one.
 */
export function findDecomposedKvCache(
  ix: GraphIndex,
  core: Set<NodeProto>,
  isKeyPath: (n: NodeProto) => boolean,
  numKvHeads: number,
  layer: number,
): KvCacheRef | undefined {
  let pastKey: string | undefined, pastValue: string | undefined, presentKey: string | undefined, presentValue: string | undefined;
  let stop: NodeProto | undefined;
  for (const n of core) {
    if (!isOp(n, 'Concat')) continue;
    const past = (n.input ?? []).map((i) => (i ? graphInputBehind(ix, i) : undefined)).find(Boolean);
    if (!past) continue;
    stop = n;
    const present = graphOutputFrom(ix, n.output![0]!);
    if (!present) throw new PatternNotFound(`present.${layer}.* graph output for the cache Concat`, nodeLabel(n));
    if (isKeyPath(n)) {
      pastKey = past;
      presentKey = present;
    } else {
      pastValue = past;
      presentValue = present;
    }
  }
  if (!pastKey && !pastValue) return undefined;
  if (!pastKey || !pastValue || !presentKey || !presentValue) {
    throw new PatternNotFound(`KV cache pair (past key and value concatenated into present key and value) in layer ${layer}`, nodeLabel(stop));
  }
  return { pastKey, pastValue, presentKey, presentValue, headAxis: headAxisOf(ix, pastKey, numKvHeads) };
}

