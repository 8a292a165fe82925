/**
 * PruningPlan: what to keep, per layer, as plain JSON. Scoring writes it, surgery reads it, and a
 * user can print, edit, save and replay it. It lives in onnx-io because both sides need it and
 * neither should depend on the other.
 */
import type { ModelSpec } from './spec.js';

export const PLAN_FORMAT = 'llm-bip.plan/v1';

export interface LayerPlan {
  layer: number;
  /** query heads kept (HF head indices, ascending) */
  keepHeads: number[];
  /** KV heads kept (ascending). MHA: equal to keepHeads. GQA: a kept KV head keeps its whole group. */
  keepKvHeads: number[];
  /** FFN channels kept (indices into intermediate_size, ascending) */
  keepChannels: number[];
}

export interface PruningPlan {
  format: typeof PLAN_FORMAT;
  /** what the plan was made for; surgery refuses a model whose shape differs */
  model: {
    fingerprint: string;
    numLayers: number;
    hiddenSize: number;
    numHeads: number[];
    numKvHeads: number[];
    headDim: number[];
    intermediateSize: number[];
  };
  criterion: string;
  /** target fraction of attention+MLP parameters removed */
  ratio: number;
  allocation: string;
  /** 'head' (MHA, one query head) or 'kv-group' (GQA: a KV head and its query heads) */
  headGranularity: 'head' | 'kv-group';
  calibration?: { source: string; samples: number; seqLen: number; seed: number };
  seed?: number;
  createdAt?: string;
  /** free-form provenance (tool version, options) */
  notes?: Record<string, unknown>;
  layers: LayerPlan[];
}

/** Per-layer means of the projection inputs, for bias compensation (FLAP): b = W[:, pruned] · mean(x[pruned]). */
export interface CompensationStats {
  layers: Array<{ layer: number; oProjInputMean: number[]; downProjInputMean: number[] }>;
}

export class PlanMismatchError extends Error {
  override name = 'PlanMismatchError';
}

/** A plan that keeps everything (identity surgery). */
export function emptyPlan(spec: ModelSpec, fingerprint = ''): PruningPlan {
  return {
    format: PLAN_FORMAT,
    model: planModelShape(spec, fingerprint),
    criterion: 'none',
    ratio: 0,
    allocation: 'none',
    headGranularity: spec.layers.some((l) => l.numKvHeads !== l.numHeads) ? 'kv-group' : 'head',
    layers: spec.layers.map((l) => ({
      layer: l.index,
      keepHeads: range(l.numHeads),
      keepKvHeads: range(l.numKvHeads),
      keepChannels: range(l.intermediateSize),
    })),
  };
}

export function planModelShape(spec: ModelSpec, fingerprint: string): PruningPlan['model'] {
  return {
    fingerprint,
    numLayers: spec.numLayers,
    hiddenSize: spec.hiddenSize,
    numHeads: spec.layers.map((l) => l.numHeads),
    numKvHeads: spec.layers.map((l) => l.numKvHeads),
    headDim: spec.layers.map((l) => l.headDim),
    intermediateSize: spec.layers.map((l) => l.intermediateSize),
  };
}

/**
 * Check that a plan fits a model: same layer count and shapes, indices in range, sorted, unique,
 * and under GQA whole groups only. Throws PlanMismatchError naming the first problem and the fix.
 */
export function validatePlan(plan: PruningPlan, spec: ModelSpec): void {
  const fail = (msg: string): never => {
    throw new PlanMismatchError(`${msg}. The plan does not match this model: make a new plan for it with \`llm-bip plan\`.`);
  };
  if (plan.format !== PLAN_FORMAT) fail(`plan format is "${String(plan.format)}", expected "${PLAN_FORMAT}"`);
  if (plan.layers.length !== spec.numLayers) fail(`plan has ${plan.layers.length} layers, model has ${spec.numLayers}`);
  if (plan.model.hiddenSize !== spec.hiddenSize) fail(`plan was made for hidden size ${plan.model.hiddenSize}, model has ${spec.hiddenSize}`);
  for (const lp of plan.layers) {
    const l = spec.layers[lp.layer];
    if (!l) fail(`plan names layer ${lp.layer}, model has layers 0..${spec.numLayers - 1}`);
    const layer = l as NonNullable<typeof l>;
    if (plan.model.numHeads[lp.layer] !== layer.numHeads || plan.model.intermediateSize[lp.layer] !== layer.intermediateSize) {
      fail(`layer ${lp.layer}: plan was made for ${plan.model.numHeads[lp.layer]} heads / ${plan.model.intermediateSize[lp.layer]} channels, model has ${layer.numHeads} / ${layer.intermediateSize}`);
    }
    checkIndices(lp.keepHeads, layer.numHeads, `layer ${lp.layer} keepHeads`, fail);
    checkIndices(lp.keepKvHeads, layer.numKvHeads, `layer ${lp.layer} keepKvHeads`, fail);
    checkIndices(lp.keepChannels, layer.intermediateSize, `layer ${lp.layer} keepChannels`, fail);
    const rep = layer.numHeads / layer.numKvHeads;
    const expected = lp.keepKvHeads.flatMap((g) => range(rep).map((r) => g * rep + r));
    if (expected.join(',') !== lp.keepHeads.join(',')) {
      fail(
        layer.numKvHeads === layer.numHeads
          ? `layer ${lp.layer}: keepHeads and keepKvHeads differ in a multi-head-attention layer`
          : `layer ${lp.layer}: under grouped-query attention heads are kept in whole KV groups; keepHeads must be the query heads of keepKvHeads`,
      );
    }
  }
}

function checkIndices(idx: number[], n: number, what: string, fail: (m: string) => never): void {
  for (let i = 0; i < idx.length; i++) {
    const v = idx[i]!;
    if (!Number.isInteger(v) || v < 0 || v >= n) fail(`${what}[${i}] = ${v} is outside 0..${n - 1}`);
    if (i > 0 && v <= idx[i - 1]!) fail(`${what} must be ascending and unique (at position ${i})`);
  }
}

export function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}
