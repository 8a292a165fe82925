/**
 * ReportData: what `prune-llm` writes to results.json and `report` renders. Plain JSON; every
 * section except model, params and plan may be missing (the page then says "not measured").
 */

import type { ExecutionReport } from '@llm-bip/pipeline';

export const RESULTS_FORMAT = 'llm-bip.results/v1';

export interface ParamSummary {
  total: number;
  attention: number;
  mlp: number;
  embeddings: number;
  /** attention + MLP parameters per decoder layer */
  perLayer: Array<{ attention: number; mlp: number }>;
}

export interface KeptCount {
  kept: number;
  total: number;
}

export interface PlanLayerSummary {
  layer: number;
  heads: KeptCount;
  kvHeads: KeptCount;
  channels: KeptCount;
}

export interface PlanSummary {
  criterion: string;
  /** target fraction of attention+MLP parameters removed */
  ratio: number;
  allocation: string;
  headGranularity: 'head' | 'kv-group';
  compensation?: boolean;
  /** least-squares reconstruction of o_proj / down_proj (its fit includes the compensation bias) */
  reconstruction?: { lambda: 'auto' | number; holdoutSamples?: number };
  /** sequential pruning: the allocation of the one-shot plan, each block chosen on the pruned blocks' outputs */
  sequential?: boolean;
  /** with `sequential`: the criterion that chose inside each block, when not the plan's (--select-criterion) */
  selectCriterion?: string;
  /**
   * prune-llm --steps N (N > 1): per round the fraction of its input model it removed (ratio), the
   * fraction of the original the rounds so far were to remove (cumulative) and did remove (achievedRatio)
   */
  rounds?: Array<{ ratio: number; cumulative: number; achievedRatio: number }>;
  calibration?: { source: string; samples: number; seqLen: number; seed: number };
  seed?: number;
  createdAt?: string;
  /** free-form provenance copied from the plan (tool version, options) */
  notes?: Record<string, unknown>;
  layers: PlanLayerSummary[];
}

/** Summary of one layer's scores of one kind (heads or channels). */
export interface ScoreSummary {
  count: number;
  min: number;
  q1: number;
  median: number;
  q3: number;
  max: number;
  mean?: number;
  /** histogram over [edges[0], edges[last]]: counts.length === edges.length - 1 */
  histogram: { edges: number[]; counts: number[] };
  /** the score below which groups were pruned in this layer, when there is one */
  threshold?: number;
}

export interface LayerScores {
  layer: number;
  heads?: ScoreSummary;
  channels?: ScoreSummary;
}

export interface ScoresSection {
  /** what the numbers are, e.g. "relative block-output change" */
  unit?: string;
  layers: LayerScores[];
}

export interface TaskResult {
  acc: number;
  accNorm?: number;
}

export interface EvalResults {
  /** dataset key (e.g. "wikitext2", "ptb") -> perplexity */
  perplexity: Record<string, number>;
  /** task key (e.g. "boolq") -> accuracy in [0, 1] */
  tasks?: Record<string, TaskResult>;
}

export interface EvalSection {
  /** perplexity window length in tokens */
  seqLen?: number;
  /** only the first N windows / task examples were evaluated (quick runs) */
  limit?: number;
  dense: EvalResults;
  pruned: EvalResults;
}

export interface SpeedResult {
  prefillTokensPerSec: number;
  decodeTokensPerSec?: number;
}

export interface SpeedSection {
  executionProvider?: string;
  promptTokens?: number;
  decodeTokens?: number;
  batch?: number;
  dense: SpeedResult;
  pruned: SpeedResult;
}

export interface ReportData {
  format: typeof RESULTS_FORMAT;
  model: {
    name: string;
    /** path or id the model came from */
    source?: string;
    /** which exporter made the graph, in words */
    flavour?: string;
    numLayers: number;
    hiddenSize: number;
    vocabSize?: number;
  };
  /** the run that made these results */
  run?: { tool?: string; version?: string; createdAt?: string; durationSec?: number; host?: string };
  params: { dense: ParamSummary; pruned: ParamSummary };
  plan: PlanSummary;
  scores?: ScoresSection;
  /** how scoring ran the probe: whole, or block by block under a device-memory budget */
  scoring?: ScoringRun;
  eval?: EvalSection;
  speed?: SpeedSection;
}

/** The pipeline's ExecutionReport, as results.json holds it. */
export type ScoringRun = ExecutionReport;
