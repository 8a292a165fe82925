/**
 * The scoring contracts: what a criterion asks the probe to measure (taps), what comes back
 * (Statistics), and what a criterion makes of it (GroupScores).
 */
import type { LoadedModel } from '@llm-bip/onnx-io';
import type { ModelSpec, PruningPlan } from '@llm-bip/model';
import type { EpChoice } from '@llm-bip/runtime';
import type { MemoryBudget } from './blockwise/schedule.js';
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
  /** lines about a criterion's own step (llm-bip: the spectral norms' sessions and iterations) */
  onLog?: (line: string) => void;
  /**
   * Where a criterion's own products may run (llm-bip: the spectral norms): the model loaded once and
   * the scoring run's EP and memory budget. Absent: the criterion reads weights through `weights` only.
   */
  compute?: ScoreCompute;
}

/** The scoring run's model and device, for a criterion's own ORT sessions. */
export interface ScoreCompute {
  model: LoadedModel;
  ep?: EpChoice;
  threads?: number;
  /** device memory one session may hold (the run's --max-device-memory); absent: no limit */
  maxDeviceMemory?: MemoryBudget;
}

/**
 * One option a criterion takes, declared in the criterion's own file. The CLI makes a flag of it
 * (the kebab-case of `name`: headTerm -> --head-term) with `help`, `choices` and the default in its
 * --help; `resolveCriterionOptions` checks given values against it and fills in defaults.
 */
export interface CriterionOption {
  /** the key in `options` (camelCase) */
  name: string;
  /** 'object': a library-only value (e.g. precomputed spectral norms); the CLI makes no flag of it */
  type: 'string' | 'integer' | 'number' | 'boolean' | 'object';
  /** allowed values of a string option */
  choices?: readonly string[];
  default?: string | number | boolean;
  /** take the default from the run instead: 'seed' = the calibration seed (the CLI's --seed) */
  defaultFrom?: 'seed';
  help: string;
  /** placeholder in the CLI's help, e.g. "T" (default: "VALUE") */
  valueName?: string;
}

/**
 * A criterion: which taps it reads, and how statistics + weights become scores. `score` is async
 * because weights are read from disk one tensor at a time. Options are criterion-specific and
 * declared in `options` (what the CLI and `resolveCriterionOptions` know of them).
 */
export interface Criterion {
  name: string;
  description: string;
  /** the options it reads (none when absent); `score` and `taps` get them resolved, defaults filled in */
  options?: readonly CriterionOption[];
  /** the probe taps this criterion reads (in addition to the always-collected compensation/output taps) */
  taps(spec: ModelSpec, options?: Record<string, unknown>): Tap[];
  score(stats: Statistics, weights: WeightSource, spec: ModelSpec, options?: Record<string, unknown>, progress?: ScoreProgress): Promise<GroupScores>;
}

export type PlanModelShape = PruningPlan['model'];
