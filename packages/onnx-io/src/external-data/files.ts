/** File-level helpers shared by every writer of models with external data (saveModel, surgery). */
import { realpath } from 'node:fs/promises';
import type { TensorProto } from '../proto/types.js';
import { externalDataRef, resolveExternalLocation } from './location.js';

const DATA_FIELDS = ['rawData', 'floatData', 'int32Data', 'int64Data', 'doubleData', 'uint64Data', 'externalData', 'dataLocation'] as const;

/** A shallow copy of a tensor with every data field removed (name, type and dims kept). */
export function tensorWithoutData(t: TensorProto): TensorProto {
  const copy: TensorProto = { ...t };
  for (const f of DATA_FIELDS) delete (copy as Record<string, unknown>)[f];
  return copy;
}

/**
 * The first of `tensors` whose external data is read from `dataPath` itself, if any: writing a new
 * data file over a file the model still reads from would corrupt both, so writers refuse it.
 */
export async function tensorReadingFrom(tensors: TensorProto[], sourceDir: string, dataPath: string): Promise<TensorProto | undefined> {
  const target = await realpath(dataPath).catch(() => undefined);
  if (!target) return undefined;
  const seen = new Set<string>();
  for (const t of tensors) {
    const loc = externalDataRef(t).location;
    if (seen.has(loc)) continue;
    seen.add(loc);
    const src = await realpath(resolveExternalLocation(sourceDir, loc, t.name ?? '?')).catch(() => undefined);
    if (src === target) return t;
  }
  return undefined;
}
