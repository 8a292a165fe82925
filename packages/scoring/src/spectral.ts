/**
 * Largest singular value of a weight matrix by power iteration on W^T W, in float64 on the host.
 * LLM-BIP needs ||W_gate||_2, ||W_up||_2, ||W_down||_2 once per model (the FFN's Lipschitz constant).
 */
import type { ModelSpec } from '@llm-bip/onnx-io';
import { seededRng } from './rng.js';
import type { SpectralNorms } from './types.js';
import type { LinearWeight, WeightSource } from './weights.js';

export interface PowerIterationOptions {
  /** stop when the estimate changes by less than this, relatively (default 1e-10) */
  tolerance?: number;
  maxIterations?: number;
  seed?: number;
}

/** sigma_max(W) for W stored [in][out] (the singular values do not depend on the layout). */
export function spectralNorm(w: LinearWeight, opts: PowerIterationOptions = {}): number {
  const tol = opts.tolerance ?? 1e-10;
  const maxIt = opts.maxIterations ?? 1000;
  const { inFeatures: n, outFeatures: m, data } = w;
  const rng = seededRng(opts.seed ?? 0);
  let v = new Float64Array(m);
  for (let o = 0; o < m; o++) v[o] = rng.next() - 0.5;
  normalise(v);
  const u = new Float64Array(n);
  let sigma = 0;
  for (let it = 0; it < maxIt; it++) {
    // u = W v ; v' = W^T u ; sigma^2 ~ ||v'|| when ||v|| = 1
    for (let i = 0; i < n; i++) {
      let s = 0;
      const base = i * m;
      for (let o = 0; o < m; o++) s += data[base + o]! * v[o]!;
      u[i] = s;
    }
    const next = new Float64Array(m);
    for (let i = 0; i < n; i++) {
      const ui = u[i]!;
      if (ui === 0) continue;
      const base = i * m;
      for (let o = 0; o < m; o++) next[o]! += data[base + o]! * ui;
    }
    const norm = normalise(next);
    const estimate = Math.sqrt(norm);
    v = next;
    if (norm === 0) return 0;
    if (Math.abs(estimate - sigma) <= tol * estimate) return estimate;
    sigma = estimate;
  }
  return sigma;
}

function normalise(v: Float64Array): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]! * v[i]!;
  const n = Math.sqrt(s);
  if (n > 0) for (let i = 0; i < v.length; i++) v[i]! /= n;
  return n;
}

/** Spectral norms of every layer's W_down, W_gate, W_up and the post-attention norm's max |gamma|. */
export async function spectralNorms(spec: ModelSpec, weights: WeightSource, opts: PowerIterationOptions = {}): Promise<SpectralNorms> {
  const layers: SpectralNorms['layers'] = [];
  for (const l of spec.layers) {
    const gamma = await weights.vector(l.ffnNorm.weight);
    let gmax = 0;
    for (const g of gamma) gmax = Math.max(gmax, Math.abs(g));
    layers.push({
      layer: l.index,
      down: spectralNorm(await weights.linear(l.down), opts),
      gate: spectralNorm(await weights.linear(l.gate), opts),
      up: spectralNorm(await weights.linear(l.up), opts),
      gmax,
    });
  }
  return { layers };
}
