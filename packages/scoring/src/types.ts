/**
 * The scoring contracts: what a criterion asks the probe to measure (taps), what comes back
 * (Statistics), and what a criterion makes of it (GroupScores).
 */
import type { ModelSpec, PruningPlan } from '@llm-bip/model';
import type { WeightSource } from './weights.js';

/** Tensors of a LayerSpec a tap may read (the field names of LayerSpec). */
export type TapTensor = 'attnContext' | 'ffnAct' | 'residualMid' | 'gateOut' | 'upOut' | 'output';

/**
 * In-graph reductions. Every one reduces over the sequence axis inside the graph and keeps the batch
 * axis; the host sums (or maxes) the batch rows in float64, in row order, so the result does not
 * depend on how the calibration rows are split into batches.
 *
 * Channel reductions (result: [channels]): sum, sumSquares, sumAbs, max (max over tokens).
 * Token-norm reduction (result: [1]): tokenNorm = sum_t ||x_t||_2.
 * Head subgraphs on attnContext (result: [numHeads]), with n_ht = ||W_o^(h) z_{h,t}||_2 and
 *   r_t = 1 / sqrt(mean_k m_tk^2 + eps), a_t = max_k |silu'(g_tk) u_tk| r_t, b_t = max_k |silu(g_tk)| r_t:
 *   headNorm = sum_t n_ht, headNormSlope = sum_t a_t n_ht, headNormValue = sum_t b_t n_ht.
 * Lipschitz parts on residualMid (result: [1]): lipschitzSlope = sum_t a_t, lipschitzValue = sum_t b_t.
 * The spectral norms and the norm gain multiply these on the host, so the probe needs no weights' norms.
 */
export type ChannelReduction = 'sum' | 'sumSquares' | 'sumAbs' | 'max';
export type Reduction =
  | ChannelReduction
  | 'tokenNorm'
  | 'headNorm'
  | 'headNormSlope'
  | 'headNormValue'
  | 'lipschitzSlope'
  | 'lipschitzValue';

export interface Tap {
  layer: number;
  tensor: TapTensor;
  reduction: Reduction;
}

/** Stable name of a tap: the key of its result in Statistics and the probe's graph output suffix. */
export function tapKey(t: Tap): string {
  return `layers.${t.layer}.${t.tensor}.${t.reduction}`;
}

/** How the reductions combine across batch rows on the host. */
export function combinesByMax(r: Reduction): boolean {
  return r === 'max';
}

export const STATISTICS_FORMAT = 'llm-bip.statistics/v1';

/** Accumulated tap results over the calibration set (float64 sums / maxima over every token position). */
export interface Statistics {
  format: typeof STATISTICS_FORMAT;
  /** token positions counted (rows x sequence length; every position counts) */
  tokens: number;
  rows: number;
  seqLen: number;
  /** tapKey -> values */
  taps: Record<string, number[]>;
  /** which execution provider ran the probe, for the record */
  executionProvider?: string;
}

/**
 * A criterion's verdict. Head scores are per query head under multi-head attention and per KV group
 * under grouped-query attention (the sum of the group's query-head terms). Higher = more important.
 */
export interface LayerScores {
  layer: number;
  /** null: this criterion does not score heads; allocation never removes them */
  heads: number[] | null;
  /** null: this criterion does not score channels; allocation never removes them */
  channels: number[] | null;
  /** mean_t ||y_t||: the block's output scale, used to compare scores across layers (relative scores) */
  blockOutputNorm?: number;
  /** extra per-layer numbers worth reporting (mean_L_t, direct head norms, ...) */
  details?: Record<string, number | number[]>;
}

export interface GroupScores {
  criterion: string;
  headGranularity: 'head' | 'kv-group';
  layers: LayerScores[];
  /** allocation this criterion is designed for (flap: 'al-am'); the CLI uses it as the default */
  defaultAllocation?: string;
  /** the options the scores were made with */
  options?: Record<string, unknown>;
}

/** Host-side constants a criterion may need: spectral norms of the FFN weights, per layer. */
export interface SpectralNorms {
  layers: Array<{ layer: number; down: number; gate: number; up: number; gmax: number }>;
}

/** Progress of a criterion's own long host-side step (llm-bip: the spectral norms), e.g. for a CLI progress bar. */
export interface ScoreProgress {
  /** `done` of `total` `unit`s of `step` are done; `detail` names the last one ("layer 3 down") */
  onProgress?: (e: { step: string; done: number; total: number; unit: string; detail?: string }) => void;
}

/**
 * A criterion: which taps it reads, and how statistics + weights become scores. `score` is async
 * because weights are read from disk one tensor at a time. Options are criterion-specific and
 * documented in the criterion's file.
 */
export interface Criterion {
  name: string;
  description: string;
  /** the probe taps this criterion reads (in addition to the always-collected compensation/output taps) */
  taps(spec: ModelSpec, options?: Record<string, unknown>): Tap[];
  score(stats: Statistics, weights: WeightSource, spec: ModelSpec, options?: Record<string, unknown>, progress?: ScoreProgress): Promise<GroupScores>;
}

export type PlanModelShape = PruningPlan['model'];
