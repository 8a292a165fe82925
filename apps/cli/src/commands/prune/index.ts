import { readFile } from 'node:fs/promises';
import { parsePlan, type PruningPlan } from '@llm-bip/model';
import { loadScores } from '@llm-bip/scoring';
import { booleanOption, parseChoice, requireExisting, soleArgument, stringOption } from '../../args.js';
import { defineCommand } from '../../command.js';
import { CliError, ExitCode, UsageError } from '../../errors.js';
import { OutputSet } from '../../output.js';
import { assertOutputsDoNotReplaceInputs } from '../../output-identity.js';
import { dataDir, resolveModelInput } from '../model-input.js';
import { calibrate, pruneTo, reconstructFor } from '@llm-bip/pipeline';
import { hooksFor, loadInput, tokenizerFor } from '../pipeline.js';
import { EXECUTION_PROVIDERS, calibrationOptions, dataOption, epOption, outputOption, reconstructionOptions, tokenizerOption } from '../shared-options.js';
import { parseCalibration } from '../calibration-args.js';
import { parseReconstruction } from '../reconstruction-args.js';
import { copyTokenizerFiles, tokenizerFilesToCopy } from '../tokenizer-files.js';

export async function readPlan(path: string): Promise<PruningPlan> {
  requireExisting(path, 'plan', 'file');
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, 'utf8'));
  } catch (e) {
    throw new CliError(`${path} is not valid JSON (${(e as Error).message}): pass a plan written by \`llm-bip plan\``, ExitCode.input);
  }
  return parsePlan(raw, path);
}

export const pruneCommand = defineCommand({
  name: 'prune',
  summary: 'apply a pruning plan: write the smaller ONNX model',
  usage: 'MODEL --plan PLAN.json -o OUT_DIR [options]',
  description: 'OUT_DIR gets model.onnx, model.onnx.data, model.onnx.pruning.json (what was cut), a pruned config.json when MODEL had one, a pruned genai_config.json when MODEL had one and every layer keeps the same heads (onnxruntime-genai has one KV-head count), and the tokenizer files.',
  options: {
    plan: { type: 'string', value: 'FILE', description: 'plan written by `llm-bip plan` (or edited by hand)' },
    compensate: { type: 'boolean', description: 'add bias compensation after o_proj/down_proj (needs --scores for the calibration means)' },
    scores: { type: 'string', value: 'FILE', description: 'scores file from `llm-bip score` (its statistics feed --compensate)' },
    ...reconstructionOptions,
    ...calibrationOptions,
    ...dataOption,
    ...epOption,
    ...tokenizerOption,
    ...outputOption('folder for the pruned model'),
  },
  examples: [
    { command: 'llm-bip prune model.onnx --plan plan.json -o pruned/', explain: 'writes pruned/model.onnx and pruned/model.onnx.data' },
    { command: 'llm-bip prune model.onnx --plan plan.json --compensate --scores scores.json -o pruned-comp/', explain: 'with FLAP-style bias compensation' },
    { command: 'llm-bip prune model.onnx --plan plan.json --reconstruct --samples 128 -o pruned-ls/', explain: 'o_proj/down_proj refit by least squares on 128 calibration samples (the C4 sample unless --calib)' },
  ],
  async run(ctx) {
    const model = soleArgument(ctx, 'MODEL', 'prune', 'give the ONNX file (or HF folder) the plan was made for');
    const planPath = stringOption(ctx.values, 'plan');
    if (!planPath) throw new UsageError('missing --plan FILE: make one with `llm-bip plan`');
    const output = stringOption(ctx.values, 'output');
    if (!output) throw new UsageError('missing -o OUT_DIR: say which folder gets the pruned model');
    const compensate = booleanOption(ctx.values, 'compensate');
    const calibration = parseCalibration(ctx);
    const reconstruct = parseReconstruction(ctx.values, calibration.samples);
    if (reconstruct && compensate) throw new UsageError('--reconstruct fits its own bias (it generalises compensation): give --reconstruct or --compensate, not both');
    const scoresPath = stringOption(ctx.values, 'scores');
    if (compensate && !scoresPath) throw new UsageError('--compensate needs --scores SCORES.json (the calibration means live there)');
    const ep = parseChoice(stringOption(ctx.values, 'ep'), '--ep', EXECUTION_PROVIDERS, 'auto');
    const tokenizer = stringOption(ctx.values, 'tokenizer');
    assertOutputsDoNotReplaceInputs({ inputs: [model, planPath, scoresPath, tokenizer], outputDir: output });
    const plan = await readPlan(planPath);
    const stats = scoresPath ? (await loadScores(scoresPath)).statistics : undefined;
    const input = await resolveModelInput(model, ctx, { ...(tokenizer ? { tokenizer } : {}), kvCache: true });
    await tokenizerFilesToCopy(input.tokenizer); // a refused tokenizer file fails before the prune, not after
    try {
      const m = await loadInput(input.onnxPath);
      const out = await OutputSet.open(output, ctx.cleanup);
      const hooks = hooksFor(ctx);
      const reconstruction = reconstruct
        ? await reconstructFor(m, plan, await calibrate(tokenizerFor(input.tokenizer, m.spec.vocabSize, model), { ...calibration, dataDir: dataDir(stringOption(ctx.values, 'data')) }), { ...reconstruct, ep }, hooks)
        : undefined;
      let result: Awaited<ReturnType<typeof pruneTo>>;
      try {
        result = await pruneTo(m, { plan, outPath: out.path('model.onnx'), ...(reconstruction ? { reconstruction } : compensate && stats ? { compensation: stats } : {}) }, hooks);
      } finally {
        reconstruction?.dispose();
      }
      if ((result.record.plan as { madeForThisModel?: boolean }).madeForThisModel === false) {
        ctx.warn(`the plan was made for another file with the same shapes (fingerprints differ): its choices come from other weights. Re-score this model if that is not intended`);
      }
      const tokenizerFiles = await copyTokenizerFiles(input.tokenizer, out);
      const files = await out.commit();
      const p = result.record.parameters;
      return {
        result: {
          output: out.dir,
          files,
          tokenizerFiles,
          removedFraction: p.removedFraction,
          parameters: { before: p.before.total, after: p.after.total },
          compensation: result.record.compensation,
          ...(result.record.reconstruction ? { reconstruction: result.record.reconstruction } : {}),
        },
        text: `wrote ${out.dir}: ${files.length} files; parameters ${p.before.total.toLocaleString('en-US')} -> ${p.after.total.toLocaleString('en-US')} (${(p.removedFraction * 100).toFixed(1)} % of attention+MLP removed)${result.record.reconstruction ? ', least-squares reconstruction' : result.record.compensation ? ', bias compensation' : ''}`,
      };
    } finally {
      input.dispose();
    }
  },
});
