import type { ModelProto } from '../proto/types.js';
import { floatKind } from './dtype.js';
import { tensorByteLength } from './tensor-data.js';

/**
 * Whether float16/bfloat16 initializers hold more bytes than float32 ones (an fp16 or bf16 export): what
 * decides runtime's `keepFp16Weights` for every session on such a model (evaluation, scoring probes).
 */
export function mostlyHalfPrecision(model: ModelProto): boolean {
  let half = 0;
  let single = 0;
  for (const t of model.graph?.initializer ?? []) {
    const kind = floatKind(t.dataType ?? 0);
    if (kind === 'float16' || kind === 'bfloat16') half += tensorByteLength(t);
    else if (kind === 'float32') single += tensorByteLength(t);
  }
  return half > single;
}
