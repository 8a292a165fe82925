/**
 * What a run asks of a model's inputs (row lengths, batch sizes), for the model package's fixed-dims
 * decision: prune-llm checks calibration, evaluation and bench against the dense model before any
 * long step; evaluate and bench check their own part when run alone.
 */
import { batchForFixedDims, declaredInputs, fixedDimsOf, type DeclaredInput, type InputDemand, type ModelSpec } from '@llm-bip/model';
import type { ModelProto } from '@llm-bip/onnx-io';
import type { Session } from '@llm-bip/runtime';
import { DEFAULTS } from './defaults.js';
import type { BenchRequest, EvalRequest } from './evaluate.js';

export function calibrationDemand(c: { samples?: number; seqLen?: number }): InputDemand {
  return { what: 'calibration rows', option: '--seq-len', seqLen: c.seqLen ?? DEFAULTS.calibration.seqLen, rows: c.samples ?? DEFAULTS.calibration.samples };
}

/** With a held-out ridge choice the fitting and held-out rows run in batches of their own: each must fill a fixed batch. */
export function holdoutDemands(c: { samples?: number; seqLen?: number }, holdoutRows: number): InputDemand[] {
  if (holdoutRows === 0) return [];
  const samples = c.samples ?? DEFAULTS.calibration.samples;
  const seqLen = c.seqLen ?? DEFAULTS.calibration.seqLen;
  return [
    { what: 'calibration rows fitted by reconstruction (samples minus --holdout)', option: '--seq-len', seqLen, rows: samples - holdoutRows },
    { what: 'calibration rows held out by reconstruction (--holdout)', option: '--seq-len', seqLen, rows: holdoutRows },
  ];
}

export function evalDemands(req: Pick<EvalRequest, 'ppl' | 'tasks' | 'seqLen'>, seqLenOption = '--seq-len'): InputDemand[] {
  const d: InputDemand[] = [];
  if (req.ppl.length) d.push({ what: 'perplexity windows', option: seqLenOption, seqLen: req.seqLen ?? DEFAULTS.eval.seqLen });
  if (req.tasks.length) d.push({ what: 'zero-shot task requests' , option: '--tasks' });
  return d;
}

export function benchDemand(req: BenchRequest): InputDemand {
  const b = { ...DEFAULTS.bench, ...Object.fromEntries(Object.entries(req).filter(([, v]) => v !== undefined)) };
  return { what: "the speed benchmark's prompts", option: '--prompt', seqLen: b.prompt, batch: b.batch };
}

/** The batch size to run with (the fixed one, else `requested`); throws FixedDimensionError naming every conflict. */
export function batchForModel(inputs: readonly DeclaredInput[], spec: Pick<ModelSpec, 'inputs'>, demands: readonly InputDemand[], requested: number | undefined, source: string): number | undefined {
  return batchForFixedDims(fixedDimsOf(inputs, spec.inputs.inputIds), demands, requested, source);
}

export function inputsOfModel(model: ModelProto): DeclaredInput[] {
  return declaredInputs(model);
}

export function inputsOfSession(session: Pick<Session, 'inputMetadata'>): DeclaredInput[] {
  return session.inputMetadata.map((m) => ({ name: m.name, shape: m.isTensor ? m.shape : [] }));
}
