import type { InputMoments } from '@llm-bip/model';

/**
 * Σ x xᵀ and Σ x over token rows [from, to) of x ([tokens][width], a reference activation such as
 * LayerActivations.z or .s), in float64: what the probe's input moments (scoring's ProjectionMoments)
 * should hold.
 */
export function referenceInputMoments(x: Float64Array, width: number, from = 0, to = x.length / width): InputMoments {
  if (!Number.isInteger(x.length / width)) throw new Error(`reference moments: ${x.length} values are not rows of width ${width}`);
  const gram = new Float64Array(width * width);
  const sum = new Float64Array(width);
  for (let t = from; t < to; t++) {
    for (let i = 0; i < width; i++) {
      const xi = x[t * width + i]!;
      sum[i]! += xi;
      for (let j = 0; j < width; j++) gram[i * width + j]! += xi * x[t * width + j]!;
    }
  }
  return { tokens: to - from, gram, sum };
}
