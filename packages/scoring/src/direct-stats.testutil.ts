/**
 * Test support: the taps computed directly in float64 from referenceForward activations, by the
 * definitions in types.ts (independent of the probe graph); and what the llm-bip tests hold its
 * scores against: the block-output change measured with a channel or head group zeroed, and the
 * per-token head bound.
 */
import { hfNames, type LlamaConfig, type ModelSpec } from '@llm-bip/model';
import { referenceForward, type LayerActivations } from '@llm-bip/testing';
import { tapKey, type SpectralNorms, type Tap } from './types.js';

export const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

const geluTanh = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));

/** φ and φ' of the MLP: silu analytically; gelu_tanh's derivative by central differences (independent of the probe's formula). */
export function activation(kind: ModelSpec['mlpActivation'], g: number): { phi: number; dphi: number } {
  if (kind === 'silu') {
    const sg = sigmoid(g);
    return { phi: g * sg, dphi: sg * (1 + g * (1 - sg)) };
  }
  const h = 1e-5 * Math.max(1, Math.abs(g));
  return { phi: geluTanh(g), dphi: (geluTanh(g + h) - geluTanh(g - h)) / (2 * h) };
}

/** Per-token quantities of layer l: n[h][t], a[t], b[t] (see types.ts). */
export function perToken(spec: ModelSpec, weights: Map<string, Float64Array>, l: number, a: LayerActivations) {
  const layer = spec.layers[l]!;
  const { numHeads: H, headDim: D, intermediateSize: I } = layer;
  const hid = spec.hiddenSize;
  const N = a.x.length / hid;
  const wo = weights.get(hfNames.o(l))!; // HF [hidden, H*D]
  const n = Array.from({ length: H }, () => new Float64Array(N));
  for (let t = 0; t < N; t++) {
    for (let h = 0; h < H; h++) {
      let ss = 0;
      for (let o = 0; o < hid; o++) {
        let v = 0;
        for (let d = 0; d < D; d++) v += wo[o * H * D + h * D + d]! * a.z[t * H * D + h * D + d]!;
        ss += v * v;
      }
      n[h]![t] = Math.sqrt(ss);
    }
  }
  const slope = new Float64Array(N);
  const value = new Float64Array(N);
  for (let t = 0; t < N; t++) {
    let ms = 0;
    for (let i = 0; i < hid; i++) ms += a.m[t * hid + i]! ** 2;
    const r = 1 / Math.sqrt(ms / hid + spec.layers[l]!.ffnNorm.epsilon);
    let ma = 0;
    let mb = 0;
    for (let k = 0; k < I; k++) {
      const g = a.g[t * I + k]!;
      const { phi, dphi } = activation(spec.mlpActivation, g);
      ma = Math.max(ma, Math.abs(dphi * a.u[t * I + k]!));
      mb = Math.max(mb, Math.abs(phi));
    }
    slope[t] = ma * r;
    value[t] = mb * r;
  }
  return { n, slope, value, N };
}

export function directStats(spec: ModelSpec, weights: Map<string, Float64Array>, acts: LayerActivations[], taps: Tap[]): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  const tensorOf = (a: LayerActivations, t: Tap['tensor']) =>
    ({ attnContext: a.z, ffnAct: a.s, residualMid: a.m, gateOut: a.g, upOut: a.u, output: a.y })[t];
  const cache = new Map<number, ReturnType<typeof perToken>>();
  for (const tap of taps) {
    const a = acts[tap.layer]!;
    const x = tensorOf(a, tap.tensor);
    const N = a.x.length / spec.hiddenSize;
    const C = x.length / N;
    const channel = (init: number, f: (acc: number, v: number) => number) => {
      const r = new Array<number>(C).fill(init);
      for (let t = 0; t < N; t++) for (let c = 0; c < C; c++) r[c] = f(r[c]!, x[t * C + c]!);
      return r;
    };
    const pt = () => {
      let p = cache.get(tap.layer);
      if (!p) cache.set(tap.layer, (p = perToken(spec, weights, tap.layer, a)));
      return p;
    };
    const weighted = (w: Float64Array) => pt().n.map((nh) => nh.reduce((s, v, t) => s + v * w[t]!, 0));
    let v: number[];
    switch (tap.reduction) {
      case 'sum':
        v = channel(0, (s, e) => s + e);
        break;
      case 'sumSquares':
        v = channel(0, (s, e) => s + e * e);
        break;
      case 'sumAbs':
        v = channel(0, (s, e) => s + Math.abs(e));
        break;
      case 'max':
        v = channel(-Infinity, (s, e) => Math.max(s, e));
        break;
      case 'tokenNorm': {
        let s = 0;
        for (let t = 0; t < N; t++) {
          let ss = 0;
          for (let c = 0; c < C; c++) ss += x[t * C + c]! ** 2;
          s += Math.sqrt(ss);
        }
        v = [s];
        break;
      }
      case 'headNorm':
        v = pt().n.map((nh) => nh.reduce((s, e) => s + e, 0));
        break;
      case 'headNormSlope':
        v = weighted(pt().slope);
        break;
      case 'headNormValue':
        v = weighted(pt().value);
        break;
      case 'lipschitzSlope':
        v = [pt().slope.reduce((s, e) => s + e, 0)];
        break;
      case 'lipschitzValue':
        v = [pt().value.reduce((s, e) => s + e, 0)];
        break;
    }
    out[tapKey(tap)] = v;
  }
  return out;
}

/** |a - b| <= rel * (|b| + floor * max|b|), element by element; returns the worst ratio to the allowance. */
export function worstRelative(a: ArrayLike<number>, b: ArrayLike<number>, floor = 1e-3): number {
  let scale = 0;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]!));
  let worst = 0;
  for (let i = 0; i < b.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / (Math.abs(b[i]!) + floor * scale || 1));
  return worst;
}

export const mean = (x: ArrayLike<number>) => Array.from(x).reduce((a, b) => a + b, 0) / x.length;

/** A model in float64 with token rows and their reference activations: what blockChange measures on. */
export interface ReferenceCase {
  spec: ModelSpec;
  config: LlamaConfig;
  weights: Map<string, Float64Array>;
  rows: number[][];
  acts: LayerActivations[];
}

type WeightEdit = (w: Map<string, Float64Array>) => void;

/** Per-token ||y_t - y'_t|| of layer l's output when `edit` changes (a copy of) the HF weights. */
export function blockChange(c: ReferenceCase, l: number, edit: WeightEdit): Float64Array {
  const w = new Map([...c.weights].map(([k, v]) => [k, v.slice()]));
  edit(w);
  let y2: Float64Array | undefined;
  referenceForward(c.config, w, c.rows, { capture: (i, a) => i === l && (y2 = a.y) });
  const y = c.acts[l]!.y;
  const hid = c.spec.hiddenSize;
  const d = new Float64Array(y.length / hid);
  for (let t = 0; t < d.length; t++) {
    let s = 0;
    for (let i = 0; i < hid; i++) s += (y[t * hid + i]! - y2![t * hid + i]!) ** 2;
    d[t] = Math.sqrt(s);
  }
  return d;
}

/** Zeroes FFN channel k of layer l: column k of HF down_proj [hidden, I]. */
export function zeroChannel(spec: ModelSpec, l: number, k: number): WeightEdit {
  const I = spec.layers[l]!.intermediateSize;
  return (w) => {
    const down = w.get(hfNames.down(l))!;
    for (let o = 0; o < spec.hiddenSize; o++) down[o * I + k] = 0;
  };
}

/** Zeroes head group g of layer l (KV group g's query heads): their columns of HF o_proj [hidden, H*D]. */
export function zeroHeadGroup(spec: ModelSpec, l: number, g: number): WeightEdit {
  const { numHeads: H, numKvHeads: KV, headDim: D } = spec.layers[l]!;
  const rep = H / KV;
  return (w) => {
    const o = w.get(hfNames.o(l))!;
    for (let i = 0; i < spec.hiddenSize; i++) for (let j = g * rep * D; j < (g + 1) * rep * D; j++) o[i * H * D + j] = 0;
  };
}

/** Per-token Lipschitz constant L_t of layer l's MLP branch, from its spectral norms and perToken's slope and value. */
export function mlpLipschitz(p: ReturnType<typeof perToken>, sn: SpectralNorms['layers'][number]): number[] {
  return Array.from(p.slope, (a, t) => sn.down * sn.gmax * (sn.gate * a + sn.up * p.value[t]!));
}

/** Per-token bound sum over head group g's query heads of (1 + L_t)·||W_o^(h) z_h,t||, `rep` query heads a group. */
export function headGroupBound(p: ReturnType<typeof perToken>, L: number[], g: number, rep: number): number[] {
  return L.map((lt, t) => {
    let s = 0;
    for (let h = g * rep; h < (g + 1) * rep; h++) s += (1 + lt) * p.n[h]![t]!;
    return s;
  });
}
