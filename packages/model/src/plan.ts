/**
 * PruningPlan: what to keep, per layer, as plain JSON. Scoring writes it, surgery reads it, and a
 * user can print, edit, save and replay it. It lives in onnx-io because both sides need it and
 * neither should depend on the other.
 */
import { categorisedError, INPUT_LIMITS } from '@llm-bip/onnx-io';
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

/**
 * Second moments of a projection's input over calibration tokens, for least-squares reconstruction:
 * `gram` = Σ_t x_t x_tᵀ (width × width, row-major, float64), `sum` = Σ_t x_t, over `tokens` positions.
 * Scoring's probe accumulates them (o_proj and down_proj inputs); surgery's reconstruction solves with them.
 */
export interface InputMoments {
  tokens: number;
  gram: Float64Array;
  sum: Float64Array;
}

export class PlanMismatchError extends categorisedError('PlanMismatchError', 'input') {}

/**
 * Check the structure of a plan read from a file (before any model is loaded): the fields surgery
 * reads exist and have the right types, and no layer is emptied. Throws PlanMismatchError naming
 * the field and the fix.
 */
export function parsePlan(raw: unknown, source = 'plan'): PruningPlan {
  const fail = (msg: string): never => {
    throw new PlanMismatchError(`${source}: ${msg}. Pass a plan written by \`llm-bip plan\` (or fix the field by hand).`);
  };
  if (!isObj(raw)) return fail('is not a JSON object');
  if (raw.format !== PLAN_FORMAT) fail(`"format" is ${JSON.stringify(raw.format)}, expected "${PLAN_FORMAT}"`);
  const bad = planModelShapeProblem(raw.model);
  if (bad) fail(bad);
  for (const k of ['criterion', 'allocation'] as const) if (typeof raw[k] !== 'string') fail(`"${k}" is ${JSON.stringify(raw[k])}, not a string`);
  if (typeof raw.ratio !== 'number' || !(raw.ratio >= 0 && raw.ratio < 1)) fail(`"ratio" is ${JSON.stringify(raw.ratio)}, not a fraction in [0, 1)`);
  if (raw.headGranularity !== 'head' && raw.headGranularity !== 'kv-group') fail(`"headGranularity" is ${JSON.stringify(raw.headGranularity)}, expected "head" or "kv-group"`);
  for (const k of ['calibration', 'notes'] as const) if (raw[k] !== undefined && !isObj(raw[k])) fail(`"${k}" is ${JSON.stringify(raw[k])}, not an object`);
  if (!Array.isArray(raw.layers)) return fail('has no "layers" list');
  raw.layers.forEach((l: unknown, i: number) => {
    if (!isObj(l)) return fail(`"layers[${i}]" is ${JSON.stringify(l)}, not an object`);
    if (!Number.isSafeInteger(l.layer)) fail(`"layers[${i}].layer" is ${JSON.stringify(l.layer)}, not a layer index`);
    for (const k of ['keepHeads', 'keepKvHeads', 'keepChannels'] as const) {
      const v = l[k];
      if (!Array.isArray(v) || !v.every((x) => Number.isSafeInteger(x))) fail(`"layers[${i}].${k}" must be a list of integer indices`);
    }
    // surgery can remove a whole attention or FFN block (library use), but no recogniser reads such a
    // model back, so a plan file that asks for it is refused rather than producing a model llm-bip cannot open
    const heads = l.keepHeads as unknown[];
    if (heads.length === 0 || (l.keepChannels as unknown[]).length === 0) {
      fail(
        `"layers[${i}]" (layer ${String(l.layer)}) keeps no ${heads.length === 0 ? 'attention heads' : 'FFN channels'}: the pruned model could not be read back by llm-bip (eval, inspect, prune again). Keep at least one of each per layer (\`llm-bip plan\` does)`,
      );
    }
    return undefined;
  });
  return raw as unknown as PruningPlan;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The problem with a `model` shape record (plans and scores files carry one), or undefined. */
export function planModelShapeProblem(m: unknown): string | undefined {
  if (!isObj(m)) return 'has no "model" object (the shape it was made for)';
  if (typeof m.fingerprint !== 'string') return `"model.fingerprint" is ${JSON.stringify(m.fingerprint)}, not a string`;
  // sizes are bounded before anything is allocated from them (index lists, score arrays)
  for (const [k, limit] of [['numLayers', INPUT_LIMITS.layers], ['hiddenSize', INPUT_LIMITS.width]] as const) {
    if (!Number.isSafeInteger(m[k]) || (m[k] as number) <= 0 || (m[k] as number) > limit) return `"model.${k}" is ${JSON.stringify(m[k])}, not an integer in 1..${limit}`;
  }
  for (const k of ['numHeads', 'numKvHeads', 'headDim', 'intermediateSize'] as const) {
    const v = m[k];
    if (!Array.isArray(v) || v.length !== m.numLayers || !v.every((x) => Number.isSafeInteger(x) && x > 0 && x <= INPUT_LIMITS.width)) {
      return `"model.${k}" must be a list of integers in 1..${INPUT_LIMITS.width}, one per layer (${String(m.numLayers)})`;
    }
  }
  const heads = m.numHeads as number[];
  const kv = m.numKvHeads as number[];
  const l = heads.findIndex((h, i) => h % kv[i]! !== 0);
  if (l >= 0) return `"model.numHeads[${l}]" (${heads[l]}) is not a multiple of "model.numKvHeads[${l}]" (${kv[l]})`;
  return undefined;
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
  const seen = new Set<number>();
  for (const lp of plan.layers) {
    const l = spec.layers[lp.layer];
    if (!l) fail(`plan names layer ${lp.layer}, model has layers 0..${spec.numLayers - 1}`);
    if (seen.has(lp.layer)) fail(`plan names layer ${lp.layer} twice (each layer once)`);
    seen.add(lp.layer);
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
