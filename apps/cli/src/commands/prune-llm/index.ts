import { booleanOption, listOption, parseAlignOption, parseChoice, parseIntOption, parseRatio, soleArgument, stringOption } from '../../args.js';
import { defineCommand, type CommandContext, type CommandOutput, type OptionSpec, type OptionValues } from '../../command.js';
import { CliError, ExitCode, UsageError } from '../../errors.js';
import { cliVersion } from '../../version.js';
import { OutputSet } from '../../output.js';
import { assertOutputsDoNotReplaceInputs } from '../../output-identity.js';
import { renderReport } from '../../report/render.js';
import type { ReportData } from '../../report/types.js';
import { parseBenchRequest, benchOptions, type BenchRequest } from '../bench/index.js';
import { parseCalibration, parseScoringMemory, type CalibrationArgs, type ScoringMemoryArgs } from '../calibration-args.js';
import { criterionFlags, criterionOption, loadPlugins, parseCriterion, parseCriterionOptions, parseSelectCriterion, pluginOption } from '../criterion-options.js';
import { PPL_DATASETS, TASKS, parseEvalList, type EvalRequest } from '../eval/index.js';
import { cacheDir, dataDir, resolveModelInput } from '../model-input.js';
import { hooksFor, loadInput, tokenizerFor } from '../pipeline.js';
import { existsSync } from 'node:fs';
import { requireDataSets } from '@llm-bip/eval';
import { calibrationFile, DEFAULTS, pruneLlm, type ReconstructRequest } from '@llm-bip/pipeline';
import { ALLOCATIONS, EXECUTION_PROVIDERS, calibrationOptions, dataOption, epOption, outputOption, pruneOptions, reconstructionOptions, scoringMemoryOptions, tokenizerOption } from '../shared-options.js';
import { parseReconstruction } from '../reconstruction-args.js';
import { copyTokenizerFiles, tokenizerFilesToCopy } from '../tokenizer-files.js';
import { kvLayoutOf } from '../kv-layout.js';
import { buildResults } from './results.js';

export interface PipelineRequest {
  model: string;
  output: string;
  ratio: number;
  criterion: string;
  /** the criterion's declared options (from its flags) */
  criterionOptions?: Record<string, unknown>;
  allocation?: (typeof ALLOCATIONS)[number];
  align: number | 'auto';
  compensate: boolean;
  /** least-squares reconstruction (replaces compensation) */
  reconstruct?: ReconstructRequest;
  /** sequential pruning (sequential.ts in the pipeline) */
  sequential?: boolean;
  /** with `sequential`: the criterion that chooses inside each block (the pipeline's PruneLlmRequest.selectCriterion) */
  selectCriterion?: string;
  /** rounds that reach the ratio (the pipeline's PruneLlmRequest.steps); DEFAULTS.steps when absent */
  steps?: number;
  calibration: CalibrationArgs;
  eval: EvalRequest;
  bench?: BenchRequest;
  tokenizer?: string;
  ep: (typeof EXECUTION_PROVIDERS)[number];
  /** --max-device-memory / --blocks-per-session */
  memory?: ScoringMemoryArgs;
}

/** Every dataset and the calibration file exist: one error names every missing set and the fetch command. */
export function preflight(req: PipelineRequest): void {
  const sets = [...req.eval.ppl, ...req.eval.tasks, ...(req.calibration.calib ? [] : [DEFAULTS.calibration.dataSet])];
  requireDataSets(sets, req.eval.dataDir);
  const calib = calibrationFile({ ...req.calibration, dataDir: req.eval.dataDir });
  if (!existsSync(calib)) throw new CliError(`calibration file ${calib} does not exist: pass one with --calib FILE (.jsonl with a "text" field, or plain text)`, ExitCode.input);
}

/** prune-llm as the pipeline package runs it, plus the CLI's files: plan.json, the tokenizer, results.json, report.html. */
export async function runPipeline(ctx: CommandContext, req: PipelineRequest): Promise<{ data: ReportData; files: string[]; outDir: string }> {
  const startedAt = Date.now();
  // a missing dataset fails in the first second, not after calibration
  preflight(req);
  const input = await resolveModelInput(req.model, ctx, { ...(req.tokenizer ? { tokenizer: req.tokenizer } : {}), kvCache: true });
  await tokenizerFilesToCopy(input.tokenizer); // a refused tokenizer file fails before calibration, not after
  try {
    const m = await loadInput(input.onnxPath);
    const { spec } = m;
    ctx.log(`model: ${spec.flavour}; ${spec.numLayers} layers, hidden ${spec.hiddenSize}`);
    // open the output before the long steps: an unwritable folder fails in the first seconds
    const out = await OutputSet.open(req.output, ctx.cleanup);
    const tokenizer = tokenizerFor(input.tokenizer, spec.vocabSize, req.model);
    const run = await pruneLlm(
      { ...m, tokenizer, fingerprint: await m.fingerprint(), kvLayout: (plan) => kvLayoutOf(spec, plan) },
      {
        ratio: req.ratio,
        criterion: req.criterion,
        ...(req.criterionOptions ? { criterionOptions: req.criterionOptions } : {}),
        ...(req.allocation ? { allocation: req.allocation } : {}),
        align: req.align,
        compensate: req.compensate,
        reconstruct: req.reconstruct ? { ...req.reconstruct, ep: req.ep } : false,
        sequential: req.sequential ?? DEFAULTS.sequential,
        ...(req.selectCriterion !== undefined ? { selectCriterion: req.selectCriterion } : {}),
        ...(req.steps !== undefined ? { steps: req.steps } : {}),
        calibration: { ...req.calibration, dataDir: req.eval.dataDir },
        outPath: out.path('model.onnx'),
        // the memory options bound evaluation too, when given (scoring's default budget is its own)
        eval: { ...req.eval, ...req.memory, cacheDir: cacheDir(ctx.env) },
        ...(req.bench ? { bench: req.bench } : {}),
        ep: req.ep,
        ...req.memory,
      },
      { ...hooksFor(ctx), onPlan: async (plan) => void (await out.write('plan.json', `${JSON.stringify(plan, null, 2)}\n`, ctx.signal)) },
    );
    await copyTokenizerFiles(input.tokenizer, out);
    const data = buildResults({
      modelPath: req.model,
      spec,
      plan: run.plan,
      scores: run.scores,
      ...(run.execution ? { execution: run.execution } : {}),
      record: run.pruned.record,
      ...(run.rounds ? { rounds: run.rounds } : {}),
      ...(run.eval ? { eval: run.eval } : {}),
      ...(run.speed ? { speed: run.speed } : {}),
      version: cliVersion(),
      startedAt,
    });
    await out.write('results.json', `${JSON.stringify(data, null, 2)}\n`, ctx.signal);
    await out.write('report.html', renderReport(data), ctx.signal);
    ctx.signal.throwIfAborted();
    const files = await out.commit();
    return { data, files, outDir: out.dir };
  } finally {
    input.dispose();
  }
}

/** The dense vs pruned lines printed at the end of prune-llm and demo. */
export function summaryText(data: ReportData, outDir: string): string {
  const fmt = (v: number | undefined, d = 2) => (v === undefined || !Number.isFinite(v) ? '–' : v.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }));
  const int = (v: number) => v.toLocaleString('en-US');
  const rows: string[][] = [['', 'dense', 'pruned', 'change']];
  const change = (a: number | undefined, b: number | undefined) => (a && b !== undefined ? `${b >= a ? '+' : ''}${(((b - a) / a) * 100).toFixed(1)} %` : '–');
  const pd = data.params.dense;
  const pp = data.params.pruned;
  rows.push(['parameters', int(pd.total), int(pp.total), change(pd.total, pp.total)]);
  rows.push(['attention+MLP', int(pd.attention + pd.mlp), int(pp.attention + pp.mlp), change(pd.attention + pd.mlp, pp.attention + pp.mlp)]);
  for (const k of Object.keys(data.eval?.dense.perplexity ?? {})) {
    const a = data.eval!.dense.perplexity[k];
    const b = data.eval!.pruned.perplexity[k];
    rows.push([`${k} ppl`, fmt(a), fmt(b), change(a, b)]);
  }
  for (const k of Object.keys(data.eval?.dense.tasks ?? {})) {
    const a = data.eval!.dense.tasks![k]!.acc;
    const b = data.eval!.pruned.tasks?.[k]?.acc;
    rows.push([`${k} acc`, fmt(a * 100, 1) + ' %', b === undefined ? '–' : fmt(b * 100, 1) + ' %', b === undefined ? '–' : `${((b - a) * 100).toFixed(1)} pt`]);
  }
  if (data.speed) {
    const s = data.speed;
    rows.push(['prefill tok/s', fmt(s.dense.prefillTokensPerSec, 0), fmt(s.pruned.prefillTokensPerSec, 0), change(s.dense.prefillTokensPerSec, s.pruned.prefillTokensPerSec)]);
    if (s.dense.decodeTokensPerSec !== undefined) {
      rows.push(['decode tok/s', fmt(s.dense.decodeTokensPerSec, 1), fmt(s.pruned.decodeTokensPerSec, 1), change(s.dense.decodeTokensPerSec, s.pruned.decodeTokensPerSec)]);
    }
  }
  const widths = rows[0]!.map((_, j) => Math.max(...rows.map((r) => r[j]!.length)));
  const lines = rows.map((r) => r.map((c, j) => (j === 0 ? c.padEnd(widths[j]!) : c.padStart(widths[j]!))).join('   '));
  const p = data.plan;
  return [
    `${data.model.name}: ${p.criterion}, ${p.allocation}, target ${(p.ratio * 100).toFixed(0)} %${p.reconstruction ? ', least-squares reconstruction' : p.compensation ? ', bias compensation' : ''}${p.sequential ? ', sequential' : ''}${p.rounds ? `, ${p.rounds.length} rounds (${p.rounds.map((r) => `${(r.cumulative * 100).toFixed(1)}`).join(' -> ')} %)` : ''}`,
    '',
    ...lines,
    '',
    `wrote ${outDir}/{model.onnx, model.onnx.data, plan.json, results.json, report.html}`,
  ].join('\n');
}

/** Compensation is the default (BENCHMARKS.md: it improved every measured row); --no-compensate turns it off. */
export function compensationWanted(values: OptionValues): boolean {
  if (booleanOption(values, 'no-compensate')) {
    if (booleanOption(values, 'compensate')) throw new UsageError('--compensate and --no-compensate contradict each other: give one');
    if (booleanOption(values, 'reconstruct')) throw new UsageError('--reconstruct fits its own bias (it generalises compensation), so --no-compensate contradicts it: give one');
    return false;
  }
  return DEFAULTS.compensate;
}

/** prune-llm's own options; --criterion and the criterion flags come from the registry (pruneLlmOptions()). */
const fixedOptions: Record<string, OptionSpec> = {
  ...calibrationOptions,
  compensate: { type: 'boolean', description: 'bias compensation after o_proj/down_proj (on by default: best in every measured column, BENCHMARKS.md)' },
  'no-compensate': { type: 'boolean', description: 'prune without bias compensation' },
  ...reconstructionOptions,
  sequential: {
    type: 'boolean',
    description: "prune block by block: the allocation of the one-shot plan, each block's heads/channels chosen (and compensated or refit) on the outputs of the already-pruned blocks",
  },
  'select-criterion': {
    type: 'string',
    value: 'NAME',
    description: "with --sequential: the criterion that rescores each block and chooses what it keeps (the allocation stays --criterion's)",
    defaultText: '--criterion',
  },
  steps: {
    type: 'string',
    value: 'N',
    description: "reach the ratio in N rounds of score -> plan -> prune, each on the previous round's model (round k removes k/N of the ratio, of the original model), with the same calibration windows; evaluation and speed once, at the end",
    defaultText: String(DEFAULTS.steps),
  },
  eval: { type: 'string', value: 'LIST', description: `perplexity sets (${PPL_DATASETS.join(', ')}) and tasks (${TASKS.join(', ')}), or "none"`, defaultText: DEFAULTS.eval.ppl.join(',') },
  'seq-len-eval': { type: 'string', value: 'L', description: 'perplexity window length', defaultText: String(DEFAULTS.eval.seqLen) },
  limit: { type: 'string', value: 'N', description: 'evaluate only the first N windows / task examples (quick runs)' },
  'eval-batch': { type: 'string', value: 'N', description: 'sequences per evaluation forward pass', defaultText: 'windows: as many as a memory estimate allows; 8 task requests' },
  'no-bench': { type: 'boolean', description: 'skip the speed benchmark' },
  ...benchOptions,
  ...tokenizerOption,
  ...dataOption,
  ...epOption,
  ...scoringMemoryOptions,
  ...outputOption('folder for model.onnx(+data), plan.json, results.json, report.html'),
  ...pluginOption,
};

export function pruneLlmOptions(): Record<string, OptionSpec> {
  return { ratio: pruneOptions.ratio!, ...criterionOption(), allocation: pruneOptions.allocation!, align: pruneOptions.align!, ...criterionFlags(fixedOptions), ...fixedOptions };
}

export function parsePipelineRequest(ctx: CommandContext, model: string, output: string, defaults: { ratio?: number; limit?: number } = {}): PipelineRequest {
  const ratioRaw = stringOption(ctx.values, 'ratio');
  const ratio = ratioRaw === undefined && defaults.ratio !== undefined ? defaults.ratio : parseRatio(ratioRaw);
  const criterion = parseCriterion(ctx);
  const criterionOptions = parseCriterionOptions(ctx, criterion, fixedOptions);
  const allocationRaw = stringOption(ctx.values, 'allocation');
  const ep = parseChoice(stringOption(ctx.values, 'ep'), '--ep', EXECUTION_PROVIDERS, 'auto');
  const list = parseEvalList(listOption(ctx.values, 'eval'), DEFAULTS.eval.ppl, '--eval');
  const limitRaw = stringOption(ctx.values, 'limit');
  const evalBatchRaw = stringOption(ctx.values, 'eval-batch');
  const limit = limitRaw !== undefined ? parseIntOption(limitRaw, '--limit', 1) : defaults.limit;
  const tokenizer = stringOption(ctx.values, 'tokenizer');
  const calibration = parseCalibration(ctx);
  const reconstruct = parseReconstruction(ctx.values, calibration.samples);
  const selectCriterion = parseSelectCriterion(ctx);
  return {
    model,
    output,
    ratio,
    criterion,
    ...(criterionOptions ? { criterionOptions } : {}),
    ...(allocationRaw ? { allocation: parseChoice(allocationRaw, '--allocation', ALLOCATIONS, DEFAULTS.allocation) } : {}),
    align: parseAlignOption(stringOption(ctx.values, 'align'), DEFAULTS.align),
    compensate: compensationWanted(ctx.values),
    ...(reconstruct ? { reconstruct } : {}),
    sequential: booleanOption(ctx.values, 'sequential'),
    ...(selectCriterion !== undefined ? { selectCriterion } : {}),
    steps: parseIntOption(stringOption(ctx.values, 'steps'), '--steps', DEFAULTS.steps, 1),
    calibration,
    eval: {
      ppl: list.ppl,
      tasks: list.tasks,
      seqLen: parseIntOption(stringOption(ctx.values, 'seq-len-eval'), '--seq-len-eval', DEFAULTS.eval.seqLen, 2),
      ...(limit !== undefined ? { limit } : {}),
      ...(evalBatchRaw !== undefined ? { batchSize: parseIntOption(evalBatchRaw, '--eval-batch', 1) } : {}),
      dataDir: dataDir(stringOption(ctx.values, 'data')),
      ep,
    },
    ...(booleanOption(ctx.values, 'no-bench') ? {} : { bench: parseBenchRequest(ctx) }),
    ...(tokenizer ? { tokenizer } : {}),
    ep,
    memory: parseScoringMemory(ctx),
  };
}

export const pruneLlmCommand = defineCommand({
  name: 'prune-llm',
  summary: 'one command: score -> plan -> prune -> evaluate dense and pruned -> model, plan, results.json, report.html',
  usage: 'MODEL --ratio R -o OUT_DIR [options]',
  description: 'MODEL is an ONNX file (tokenizer.json beside it, or --tokenizer) or a Hugging Face checkpoint folder (exported on the fly). Nothing appears in OUT_DIR unless the whole run succeeds.',
  get options() {
    return pruneLlmOptions();
  },
  prepare: loadPlugins,
  examples: [
    { command: 'llm-bip prune-llm model.onnx --ratio 0.2 -o out/', explain: 'LLM-BIP, global-kind allocation, evaluated on WikiText-2 and PTB, speed measured' },
    { command: 'llm-bip prune-llm model.onnx --ratio 0.5 --reconstruct -o out50/', explain: 'o_proj/down_proj refit by least squares on the calibration tokens, ridge chosen on held-out samples' },
    { command: 'llm-bip prune-llm model.onnx --ratio 0.5 --reconstruct --sequential -o seq50/', explain: "the same allocation; each block chosen and refit on the pruned blocks' outputs, one block at a time" },
    { command: 'llm-bip prune-llm model.onnx --ratio 0.5 --reconstruct --sequential --steps 3 --samples 512 -o steps50/', explain: "50 % in three rounds (16.7, 33.3, 50 % of the original removed after each), each scoring and pruning the previous round's model: our best 50 % recipe (BENCHMARKS.md, issue 16), far slower than one round" },
    {
      command: 'llm-bip prune-llm ../shared/testbed/bip-llama-small --ratio 0.5 --criterion flap --compensate --eval wikitext2,boolq,piqa --limit 100 -o flap50/',
      explain: 'an HF checkpoint, a baseline criterion (its own al-am allocation), perplexity and two tasks on 100 examples',
    },
  ],
  async run(ctx): Promise<CommandOutput> {
    const model = soleArgument(ctx, 'MODEL', 'prune-llm', 'give an ONNX file or an HF checkpoint folder, e.g. `llm-bip prune-llm model.onnx --ratio 0.2 -o out/`');
    const output = stringOption(ctx.values, 'output');
    const req = parsePipelineRequest(ctx, model, output ?? '');
    if (!output) throw new UsageError('missing -o OUT_DIR: say which folder gets the pruned model, plan, results and report');
    assertOutputsDoNotReplaceInputs({ inputs: [model, req.tokenizer], outputDir: output });
    if (!req.eval.ppl.length && !req.eval.tasks.length && !req.bench) ctx.warn('--eval none and --no-bench: results.json will have no quality or speed numbers');
    const { data, outDir } = await runPipeline(ctx, req);
    return { result: data, text: summaryText(data, outDir) };
  },
});

