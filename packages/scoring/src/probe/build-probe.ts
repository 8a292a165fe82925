/**
 * The probe model: a copy of the model whose graph outputs are the taps' reductions instead of the
 * logits. Every reduction keeps the batch axis (see types.ts), so outputs are [batch, ...] and tiny;
 * activations stay on the device. Nodes no tap needs (final norm, lm_head) are removed.
 *
 * The per-head projected norm n_ht = ||W_o^(h) z_{h,t}|| is computed through the head's Gram matrix
 * G_h = W_o^(h)T W_o^(h) (headDim x headDim, accumulated in float64 by head-gram.ts on `site`'s EP, from
 * `site.model`'s stored weights, before the probe exists): n_ht^2 = z_{h,t}^T G_h z_{h,t}.
 * Same quantity as the direct product, at headDim/hidden of its cost (one batched MatMul against
 * [heads, headDim, headDim]), which keeps the probe near the cost of a plain forward.
 */
import { addGraphOutputs, cloneModel, GraphIndex, DataType, materialiseTensor, removeUnused, toNumber, type GraphProto, type ModelProto } from '@llm-bip/onnx-io';
import type { LayerSpec, ModelSpec } from '@llm-bip/model';
import { ScoringError } from '../errors.js';
import { tapKey, type ScoreCompute, type Tap, type TapTensor } from '../types.js';
import { Emitter } from './emit.js';
import { headGrams } from './head-gram.js';

export const PROBE_OUTPUT_PREFIX = 'llm_bip_probe.';

/** Reductions computed from the per-head norms n_ht (they need the layer's head Gram matrices). */
const HEAD_NORM_REDUCTIONS: ReadonlySet<Tap['reduction']> = new Set(['headNorm', 'headNormSlope', 'headNormValue']);

export interface ProbeModel {
  model: ModelProto;
  /** graph output name of each tap */
  outputs: Array<{ tap: Tap; key: string; output: string }>;
  /** graph outputs of each requested input-moment pair (gram [width, width], sum [width]) */
  moments: Array<MomentTap & { width: number; gram: string; sum: string }>;
}

/** Second moments of a projection input: attnContext (o_proj's input) or ffnAct (down_proj's). */
export interface MomentTap {
  layer: number;
  tensor: 'attnContext' | 'ffnAct';
}

export interface ProbeOptions {
  /** keep the model's own outputs (logits, KV) too; default false (the probe needs none of them) */
  keepModelOutputs?: boolean;
  /**
   * Also output Σ xxᵀ and Σ x of these projection inputs, summed over the batch's rows and tokens
   * inside the graph in float32 ([width, width] and [width] per run, not per row: a per-row Gram
   * would be batch x width² of output). For least-squares reconstruction.
   */
  moments?: MomentTap[];
  /** the Gram matrices' session lines (EP, groups) */
  onLog?: (line: string) => void;
}

/** `site.model` is the model `model` was loaded as (its initializers give the Gram matrices); `site.ep` and its budget run them. */
export async function buildProbe(model: ModelProto, spec: ModelSpec, taps: Tap[], site: ScoreCompute, opts: ProbeOptions = {}): Promise<ProbeModel> {
  const probe = cloneModel(model);
  const graph = probe.graph;
  if (!graph) throw new ScoringError('the model has no graph');
  const em = new Emitter('llm_bip_probe', defaultOpset(probe));
  const castToFloat = spec.weightType !== 'float32';
  const outputs: ProbeModel['outputs'] = [];

  const index = new GraphIndex(graph);
  const tensorNames = new Map<string, string>();
  const input = (layer: LayerSpec, tensor: TapTensor): string => {
    const k = `${layer.index}.${tensor}`;
    let name = tensorNames.get(k);
    if (!name) {
      name = materialiseTensor(graph, layer[tensor]).name;
      if (castToFloat) name = em.op('Cast', [name], `L${layer.index}_${tensor}_f32`, { to: DataType.FLOAT });
      tensorNames.set(k, name);
    }
    return name;
  };

  // every Gram matrix the taps need, made in one go (one ORT run per group of layers on the scoring EP)
  const grams = await headGrams(
    spec,
    spec.layers.filter((l) => taps.some((t) => t.layer === l.index && HEAD_NORM_REDUCTIONS.has(t.reduction))),
    site,
    opts.onLog ? { onLog: opts.onLog } : {},
  );
  const headNorms = new Map<number, string>();
  const headNorm = (layer: LayerSpec): string => {
    let n = headNorms.get(layer.index);
    if (n) return n;
    const L = `L${layer.index}`;
    const { numHeads: H, headDim: D } = layer;
    const z = em.op('Transpose', [em.reshape(input(layer, 'attnContext'), [0, 0, H, D], `${L}_z_heads`)], `${L}_z_bhtd`, { perm: [0, 2, 1, 3] });
    const gram = em.float(grams.get(layer.index)!, [H, D, D], `${L}_o_gram`);
    const zg = em.op('MatMul', [z, gram], `${L}_zG`);
    const quad = em.reduce('ReduceSum', em.op('Mul', [zg, z], `${L}_zGz`), [3], `${L}_n2`);
    // z^T G z >= 0 exactly; rounding can make a zero slightly negative
    n = em.op('Sqrt', [em.op('Relu', [quad], `${L}_n2_pos`)], `${L}_n`);
    headNorms.set(layer.index, n);
    return n;
  };

  // φ'(g) u and φ(g) of the gated MLP, per token and channel (see the L_t derivation in criteria/llm-bip.ts)
  const siluParts = (g: string, u: string, layer: LayerSpec, L: string): { slope: string; value: string } => {
    // reuse the model's own sigmoid(g) and g * sigmoid(g) when it has them in float32
    const own = castToFloat ? undefined : findSilu(index, g);
    const sig = own?.sigmoid ?? em.op('Sigmoid', [g], `${L}_sig`);
    const silu = own?.silu ?? em.op('Mul', [g, sig], `${L}_silu`);
    // silu'(g) u = sig (1 + g (1 - sig)) u = sig (u - s) + s with s = silu(g) u, the model's own ffnAct
    const s = input(layer, 'ffnAct');
    const sigTimesRest = em.op('Mul', [sig, em.op('Sub', [u, s], `${L}_u_minus_s`)], `${L}_sig_u_minus_s`);
    return { slope: em.op('Add', [sigTimesRest, s], `${L}_dsilu_u`), value: silu };
  };
  const geluParts = (g: string, u: string, L: string): { slope: string; value: string } => {
    // gelu_tanh(g) = g (1 + t) / 2, t = tanh(c (g + k g^3)); gelu_tanh'(g) = (1 + t) / 2 + g (1 - t^2) c (1 + 3 k g^2) / 2
    const c = Math.sqrt(2 / Math.PI);
    const k = 0.044715;
    const g2 = em.op('Mul', [g, g], `${L}_g2`);
    const t = em.op('Tanh', [em.op('Mul', [g, em.op('Add', [em.scalar(c, `${L}_c`), em.op('Mul', [g2, em.scalar(c * k, `${L}_ck`)], `${L}_ckg2`)], `${L}_inner_slope`)], `${L}_inner`)], `${L}_tanh`);
    const halfOnePlusT = em.op('Mul', [em.op('Add', [t, em.scalar(1, `${L}_one`)], `${L}_one_plus_t`), em.scalar(0.5, `${L}_half`)], `${L}_half_one_plus_t`);
    const value = em.op('Mul', [g, halfOnePlusT], `${L}_gelu`);
    const sech2 = em.op('Sub', [em.scalar(1, `${L}_one_b`), em.op('Mul', [t, t], `${L}_t2`)], `${L}_sech2`);
    const inner = em.op('Add', [em.scalar(0.5 * c, `${L}_half_c`), em.op('Mul', [g2, em.scalar(1.5 * c * k, `${L}_three_half_ck`)], `${L}_3ckg2`)], `${L}_dinner`);
    const dgelu = em.op('Add', [halfOnePlusT, em.op('Mul', [em.op('Mul', [g, sech2], `${L}_g_sech2`), inner], `${L}_tail`)], `${L}_dgelu`);
    return { slope: em.op('Mul', [dgelu, u], `${L}_dgelu_u`), value };
  };

  const lipschitzParts = new Map<number, { slope: string; value: string }>();
  const lipschitz = (layer: LayerSpec): { slope: string; value: string } => {
    let parts = lipschitzParts.get(layer.index);
    if (parts) return parts;
    const L = `L${layer.index}`;
    const g = input(layer, 'gateOut');
    const u = input(layer, 'upOut');
    const { slope, value } = spec.mlpActivation === 'gelu_tanh' ? geluParts(g, u, L) : siluParts(g, u, layer, L);
    const slopeMax = em.reduce('ReduceMax', em.op('Abs', [slope], `${L}_abs_dphi_u`), [2], `${L}_max_dphi_u`);
    const valueMax = em.reduce('ReduceMax', em.op('Abs', [value], `${L}_abs_phi`), [2], `${L}_max_phi`);
    const m = input(layer, 'residualMid');
    const meanSq = em.op('Mul', [em.reduce('ReduceSumSquare', m, [2], `${L}_m_sumsq`), em.scalar(1 / spec.hiddenSize, `${L}_inv_hidden`)], `${L}_m_meansq`);
    const invRms = em.op('Reciprocal', [em.op('Sqrt', [em.op('Add', [meanSq, em.scalar(layer.ffnNorm.epsilon, `${L}_eps`)], `${L}_m_var`)], `${L}_rms`)], `${L}_inv_rms`);
    parts = { slope: em.op('Mul', [slopeMax, invRms], `${L}_a`), value: em.op('Mul', [valueMax, invRms], `${L}_b`) };
    lipschitzParts.set(layer.index, parts);
    return parts;
  };

  for (const tap of taps) {
    const layer = spec.layers[tap.layer];
    if (!layer) throw new ScoringError(`tap ${tapKey(tap)} names layer ${tap.layer}; the model has ${spec.numLayers}`);
    const key = tapKey(tap);
    const out = PROBE_OUTPUT_PREFIX + key;
    const L = `L${layer.index}`;
    switch (tap.reduction) {
      case 'sum':
        em.reduce('ReduceSum', input(layer, tap.tensor), [1], key, out);
        break;
      case 'sumSquares':
        em.reduce('ReduceSumSquare', input(layer, tap.tensor), [1], key, out);
        break;
      case 'sumAbs':
        em.reduce('ReduceL1', input(layer, tap.tensor), [1], key, out);
        break;
      case 'max':
        em.reduce('ReduceMax', input(layer, tap.tensor), [1], key, out);
        break;
      case 'tokenNorm':
        em.reduce('ReduceSum', em.reduce('ReduceL2', input(layer, tap.tensor), [2], `${L}_token_norm`), [1], key, out);
        break;
      case 'headNorm':
        em.reduce('ReduceSum', headNorm(layer), [2], key, out);
        break;
      case 'headNormSlope':
      case 'headNormValue': {
        const p = lipschitz(layer)[tap.reduction === 'headNormSlope' ? 'slope' : 'value'];
        const weighted = em.op('Mul', [headNorm(layer), em.unsqueeze(p, [1], `${L}_${tap.reduction}_bt`)], `${L}_${tap.reduction}_w`);
        em.reduce('ReduceSum', weighted, [2], key, out);
        break;
      }
      case 'lipschitzSlope':
        em.reduce('ReduceSum', lipschitz(layer).slope, [1], key, out);
        break;
      case 'lipschitzValue':
        em.reduce('ReduceSum', lipschitz(layer).value, [1], key, out);
        break;
      default:
        throw new ScoringError(`unknown reduction "${String((tap as Tap).reduction)}" in tap ${key}`);
    }
    outputs.push({ tap, key, output: out });
  }

  const moments: ProbeModel['moments'] = [];
  for (const mt of opts.moments ?? []) {
    const layer = spec.layers[mt.layer];
    if (!layer) throw new ScoringError(`moment tap layers.${mt.layer}.${mt.tensor} names layer ${mt.layer}; the model has ${spec.numLayers}`);
    const width = mt.tensor === 'attnContext' ? layer.numHeads * layer.headDim : layer.intermediateSize;
    const L = `L${layer.index}_${mt.tensor}`;
    const key = `layers.${mt.layer}.${mt.tensor}`;
    const rows = em.reshape(input(layer, mt.tensor), [-1, width], `${L}_rows`);
    const gram = em.op('MatMul', [em.op('Transpose', [rows], `${L}_rows_t`, { perm: [1, 0] }), rows], `${L}_gram`, {}, `${PROBE_OUTPUT_PREFIX}${key}.gram`);
    const sum = em.reduce('ReduceSum', rows, [0], `${L}_sum`, `${PROBE_OUTPUT_PREFIX}${key}.gramSum`);
    moments.push({ ...mt, width, gram, sum });
  }

  em.commit(graph);
  if (!opts.keepModelOutputs) graph.output = [];
  addGraphOutputs(graph, [
    ...outputs.map((o) => ({ name: o.output, elemType: DataType.FLOAT })),
    ...moments.flatMap((m) => [m.gram, m.sum].map((name) => ({ name, elemType: DataType.FLOAT }))),
  ]);
  removeUnused(graph as GraphProto);
  return { model: probe, outputs, moments };
}

function defaultOpset(model: ModelProto): number {
  const entry = (model.opsetImport ?? []).find((o) => !o.domain || o.domain === 'ai.onnx');
  if (!entry || entry.version === undefined || entry.version === null) throw new ScoringError('the model declares no default-domain opset');
  return toNumber(entry.version);
}

/** The model's Sigmoid(g) and Mul(g, Sigmoid(g)) nodes, when its SiLU is written that way. */
function findSilu(index: GraphIndex, g: string): { sigmoid: string; silu: string } | undefined {
  for (const use of index.consumers(g)) {
    if (use.node.opType !== 'Sigmoid' || use.node.domain) continue;
    const sigmoid = use.node.output?.[0];
    if (!sigmoid) continue;
    for (const m of index.consumers(sigmoid)) {
      const ins = m.node.input ?? [];
      if (m.node.opType === 'Mul' && !m.node.domain && ins.length === 2 && ins.includes(g) && ins.includes(sigmoid) && m.node.output?.[0]) {
        return { sigmoid, silu: m.node.output[0] };
      }
    }
  }
  return undefined;
}
