/** ReportData (results.json) from what the pipeline steps returned: pure, so it is tested directly. */
import { basename, dirname } from 'node:path';
import { countParameters, type ModelSpec, type PruningPlan } from '@llm-bip/model';
import { roundRecord, type PruneLlmResult } from '@llm-bip/pipeline';
import type { GroupScores } from '@llm-bip/scoring';
import type { PruningRecord } from '@llm-bip/surgery';
import type { SpeedResult } from '@llm-bip/eval';
import { summarisePlan, summariseScores } from '../../report/summary.js';
import { RESULTS_FORMAT, type EvalResults, type ParamSummary, type PlanSummary, type ReportData, type ScoresSection } from '../../report/types.js';
import type { EvalRun } from '../eval/index.js';

/** A readable model name: the checkpoint folder, or the .onnx file (its folder for "model.onnx"). */
export function modelName(path: string): string {
  const base = basename(path.replace(/[/\\]+$/, ''));
  if (base === 'model.onnx') return basename(dirname(path)) || base;
  return base.replace(/\.onnx$/, '');
}

function params(summary: PruningRecord['parameters']['before'], embeddings: number): ParamSummary {
  return {
    total: summary.total,
    attention: summary.attention,
    mlp: summary.mlp,
    embeddings,
    perLayer: summary.perLayer.map((l) => ({ attention: l.attention, mlp: l.mlp })),
  };
}

/** Per layer: score summaries, relative to the block's output norm when the criterion gives it, with the layer's cut. */
export function scoresSection(scores: GroupScores, plan: PruningPlan): ScoresSection {
  const relative = scores.layers.every((l) => typeof l.blockOutputNorm === 'number' && l.blockOutputNorm > 0);
  return {
    unit: relative ? 'score / block output norm' : `${scores.criterion} score`,
    layers: scores.layers.map((l) => {
      const div = relative ? l.blockOutputNorm! : 1;
      const lp = plan.layers.find((p) => p.layer === l.layer);
      const keptHeads = new Set(scores.headGranularity === 'kv-group' ? lp?.keepKvHeads : lp?.keepHeads);
      const keptChannels = new Set(lp?.keepChannels);
      const summary = (values: number[] | null, kept: Set<number>) => {
        if (!values || values.length === 0) return undefined;
        const rel = values.map((v) => v / div);
        const removed = rel.filter((_, i) => !kept.has(i));
        return summariseScores(rel, removed.length ? { threshold: Math.max(...removed) } : {});
      };
      const heads = summary(l.heads, keptHeads);
      const channels = summary(l.channels, keptChannels);
      return { layer: l.layer, ...(heads ? { heads } : {}), ...(channels ? { channels } : {}) };
    }),
  };
}

export function evalResults(run: EvalRun): EvalResults {
  const perplexity: Record<string, number> = {};
  for (const p of run.perplexity) perplexity[p.dataset] = p.ppl;
  const tasks: NonNullable<EvalResults['tasks']> = {};
  for (const [name, r] of Object.entries(run.tasks?.results ?? {})) tasks[name] = { acc: r.acc, accNorm: r.acc_norm };
  return { perplexity, ...(Object.keys(tasks).length ? { tasks } : {}) };
}

export interface ResultsInput {
  modelPath: string;
  spec: ModelSpec;
  plan: PruningPlan;
  scores: GroupScores;
  /** how scoring ran the probe */
  execution?: PruneLlmResult['execution'];
  record: PruningRecord;
  /** steps > 1: the rounds (the scores are the last round's, so its plan places their cuts) */
  rounds?: PruneLlmResult['rounds'];
  eval?: PruneLlmResult['eval'];
  speed?: PruneLlmResult['speed'];
  version: string;
  startedAt: number;
  now?: () => Date;
}

/** What the report says of a reconstruction: its ridge setting and held-out samples (the per-projection list stays in the pruning record). */
function reconstructionSummary(r: Record<string, unknown>): NonNullable<PlanSummary['reconstruction']> {
  return { lambda: r.lambda as 'auto' | number, ...(typeof r.holdoutSamples === 'number' ? { holdoutSamples: r.holdoutSamples } : {}) };
}

export function buildResults(r: ResultsInput): ReportData {
  const embeddings = countParameters(r.spec).embeddings;
  const now = (r.now ?? (() => new Date()))();
  const data: ReportData = {
    format: RESULTS_FORMAT,
    model: { name: modelName(r.modelPath), source: r.modelPath, flavour: r.spec.flavour, numLayers: r.spec.numLayers, hiddenSize: r.spec.hiddenSize, vocabSize: r.spec.vocabSize },
    run: { tool: 'llm-bip', version: r.version, createdAt: now.toISOString(), durationSec: (now.getTime() - r.startedAt) / 1000 },
    params: { dense: params(r.record.parameters.before, embeddings), pruned: params(r.record.parameters.after, embeddings) },
    plan: {
      ...summarisePlan(r.plan, { compensation: r.record.compensation, ...(r.record.reconstruction ? { reconstruction: reconstructionSummary(r.record.reconstruction) } : {}) }),
      ...(r.rounds ? { rounds: r.rounds.map(roundRecord) } : {}),
    },
    // the last round's scores index the heads and channels of the model that round pruned: its own plan marks their cuts
    scores: scoresSection(r.scores, r.rounds?.at(-1)?.plan ?? r.plan),
    ...(r.execution ? { scoring: r.execution } : {}),
  };
  if (r.eval) data.eval = { seqLen: r.eval.seqLen, ...(r.eval.limit !== undefined ? { limit: r.eval.limit } : {}), dense: evalResults(r.eval.dense), pruned: evalResults(r.eval.pruned) };
  if (r.speed) {
    const side = (s: SpeedResult) => ({ prefillTokensPerSec: s.prefill[0]?.tokensPerSec ?? Number.NaN, ...(s.decode ? { decodeTokensPerSec: s.decode.tokensPerSec } : {}) });
    data.speed = {
      executionProvider: r.speed.dense.ep,
      promptTokens: r.speed.prompt,
      decodeTokens: r.speed.decode,
      batch: r.speed.batch,
      dense: side(r.speed.dense),
      pruned: side(r.speed.pruned),
    };
  }
  return data;
}
