/** Prune: surgery of a loaded model by a plan, with optional bias compensation or reconstruction, into `outPath`. */
import type { PruningPlan } from '@llm-bip/model';
import { compensationStats, type Statistics } from '@llm-bip/scoring';
import { pruneModel, type PruneResult, type PruningRecord, type Reconstruction } from '@llm-bip/surgery';
import { hooksOf, type PipelineHooks } from './hooks.js';
import type { ModelInput } from './score.js';

export interface PruneRequest {
  plan: PruningPlan;
  /** the .onnx file to write (its weights go to `<outPath>.data`) */
  outPath: string;
  /** calibration statistics: with them, bias compensation after o_proj / down_proj */
  compensation?: Statistics;
  /** refit o_proj / down_proj weights and biases (reconstructFor); replaces compensation */
  reconstruction?: Reconstruction;
  /** the record (sidecar and model metadata) as the caller describes the run (surgery's PruneOptions.describeRun) */
  describeRun?: (record: PruningRecord) => PruningRecord;
}

export async function pruneTo(model: ModelInput, req: PruneRequest, hooks?: PipelineHooks): Promise<PruneResult> {
  const h = hooksOf(hooks);
  const bar = h.progress({ label: 'surgery', unit: 'tensor' });
  const result = await pruneModel({
    model: model.loaded,
    spec: model.spec,
    plan: req.plan,
    outPath: req.outPath,
    ...(req.compensation ? { compensation: compensationStats(req.compensation, model.spec) } : {}),
    ...(req.reconstruction ? { reconstruction: req.reconstruction } : {}),
    ...(req.describeRun ? { describeRun: req.describeRun } : {}),
    onProgress: (p) => {
      h.check();
      if (p.phase === 'tensors') bar.update(p.done, p.total);
    },
  });
  bar.finish();
  // the model itself is fine (llm-bip and plain ORT run it); only onnxruntime-genai cannot load it
  if (result.genaiConfigSkipped) h.warn(`genai_config.json not written: ${result.genaiConfigSkipped}`);
  return result;
}
