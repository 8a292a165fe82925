/** Small helpers shared by the criteria. */
import type { LayerSpec, ModelSpec } from '@llm-bip/model';
import type { GroupScores } from '../types.js';

export function headGranularity(spec: ModelSpec): GroupScores['headGranularity'] {
  return spec.layers.some((l) => l.numKvHeads !== l.numHeads) ? 'kv-group' : 'head';
}

/** Per-query-head values -> per head group (KV group under GQA): the sum of the group's query heads. */
export function sumPerGroup(layer: LayerSpec, perHead: ArrayLike<number>): number[] {
  const rep = layer.numHeads / layer.numKvHeads;
  const out = new Array<number>(layer.numKvHeads).fill(0);
  for (let h = 0; h < layer.numHeads; h++) out[Math.floor(h / rep)]! += perHead[h]!;
  return out;
}

/** Per-channel values of the attention context (numHeads*headDim, head-major) -> per query head, reduced by `f`. */
export function perHeadFromChannels(layer: LayerSpec, perChannel: ArrayLike<number>, f: 'sum' | 'mean'): number[] {
  const d = layer.headDim;
  return Array.from({ length: layer.numHeads }, (_, h) => {
    let s = 0;
    for (let j = h * d; j < (h + 1) * d; j++) s += perChannel[j]!;
    return f === 'sum' ? s : s / d;
  });
}

export function optionOf<T extends string>(options: Record<string, unknown> | undefined, key: string, allowed: readonly T[], dflt: T): T {
  const v = options?.[key] ?? dflt;
  if (!allowed.includes(v as T)) throw new RangeError(`option ${key} = ${JSON.stringify(v)}: expected one of ${allowed.join(', ')}`);
  return v as T;
}
