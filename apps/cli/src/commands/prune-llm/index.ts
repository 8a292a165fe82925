import { booleanOption, listOption, noExtraPositionals, parseChoice, parseIntOption, parseRatio, requireExisting, requirePositional, stringOption } from '../../args.js';
import { defineCommand } from '../../command.js';
import { UsageError } from '../../errors.js';
import { notAvailable } from '../../not-available.js';
import { PPL_DATASETS, TASKS } from '../eval/index.js';
import { ALLOCATIONS, CRITERIA, EXECUTION_PROVIDERS, calibrationOptions, epOption, outputOption, pruneOptions } from '../shared-options.js';

export const pruneLlmCommand = defineCommand({
  name: 'prune-llm',
  summary: 'one command: score -> plan -> prune -> evaluate dense and pruned -> model, plan, results.json, report.html',
  usage: 'MODEL --ratio R -o OUT_DIR [options]',
  description: 'MODEL is an ONNX file or a Hugging Face checkpoint folder (exported on the fly). Nothing is written to OUT_DIR unless the whole run succeeds.',
  options: {
    ...pruneOptions,
    ...calibrationOptions,
    compensate: { type: 'boolean', description: 'bias compensation after o_proj/down_proj' },
    eval: { type: 'string', value: 'LIST', description: `perplexity datasets (${PPL_DATASETS.join(', ')}) and tasks (${TASKS.join(', ')}), or "none"`, defaultText: 'wikitext2,ptb' },
    'no-bench': { type: 'boolean', description: 'skip the speed benchmark' },
    ...epOption,
    ...outputOption('folder for model.onnx(+data), plan.json, results.json, report.html'),
  },
  examples: [
    { command: 'llm-bip prune-llm model.onnx --ratio 0.2 -o out/', explain: 'LLM-BIP, global-kind allocation, evaluated on WikiText-2 and PTB' },
    {
      command: 'llm-bip prune-llm ../shared/testbed/bip-llama-small --ratio 0.5 --criterion flap --allocation uniform --compensate --eval wikitext2,boolq,piqa -o flap50/',
      explain: 'an HF checkpoint, a baseline criterion, perplexity and two tasks',
    },
  ],
  async run(ctx) {
    const model = requirePositional(ctx, 0, 'MODEL', 'prune-llm', 'give an ONNX file or an HF checkpoint folder, e.g. `llm-bip prune-llm model.onnx --ratio 0.2 -o out/`');
    noExtraPositionals(ctx, 1, 'prune-llm');
    parseRatio(stringOption(ctx.values, 'ratio'));
    parseChoice(stringOption(ctx.values, 'criterion'), '--criterion', CRITERIA, 'llm-bip');
    parseChoice(stringOption(ctx.values, 'allocation'), '--allocation', ALLOCATIONS, 'global-kind');
    parseChoice(stringOption(ctx.values, 'ep'), '--ep', EXECUTION_PROVIDERS, 'auto');
    parseIntOption(stringOption(ctx.values, 'samples'), '--samples', 128);
    parseIntOption(stringOption(ctx.values, 'seq-len'), '--seq-len', 128, 2);
    parseIntOption(stringOption(ctx.values, 'seed'), '--seed', 0, 0);
    const evals = listOption(ctx.values, 'eval') ?? ['wikitext2', 'ptb'];
    for (const e of evals) {
      if (e !== 'none' && !(PPL_DATASETS as readonly string[]).includes(e) && !(TASKS as readonly string[]).includes(e)) {
        throw new UsageError(`--eval: unknown dataset or task "${e}"; choose from ${[...PPL_DATASETS, ...TASKS].join(', ')} or "none"`);
      }
    }
    booleanOption(ctx.values, 'compensate');
    if (!stringOption(ctx.values, 'output')) throw new UsageError('missing -o OUT_DIR: say which folder gets the pruned model, plan, results and report');
    requireExisting(model, 'model');
    const calib = stringOption(ctx.values, 'calib');
    if (calib) requireExisting(calib, 'calibration file', 'file');
    return notAvailable('prune-llm', 'the scoring, surgery and eval packages');
  },
});
