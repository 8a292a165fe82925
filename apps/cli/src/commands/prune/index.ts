import { booleanOption, noExtraPositionals, requireExisting, requirePositional, stringOption } from '../../args.js';
import { defineCommand } from '../../command.js';
import { UsageError } from '../../errors.js';
import { notAvailable } from '../../not-available.js';
import { outputOption } from '../shared-options.js';

export const pruneCommand = defineCommand({
  name: 'prune',
  summary: 'apply a pruning plan: write the smaller ONNX model',
  usage: 'MODEL --plan PLAN.json -o OUT_DIR [options]',
  options: {
    plan: { type: 'string', value: 'FILE', description: 'plan written by `llm-bip plan` (or edited by hand)' },
    compensate: { type: 'boolean', description: 'add bias compensation after o_proj/down_proj (needs statistics in the plan)' },
    ...outputOption('folder for model.onnx (+ model.onnx.data)'),
  },
  examples: [
    { command: 'llm-bip prune model.onnx --plan plan.json -o pruned/', explain: 'writes pruned/model.onnx and pruned/model.onnx.data' },
  ],
  async run(ctx) {
    const model = requirePositional(ctx, 0, 'MODEL', 'prune', 'give the ONNX file the plan was made for');
    noExtraPositionals(ctx, 1, 'prune');
    const plan = stringOption(ctx.values, 'plan');
    if (!plan) throw new UsageError('missing --plan FILE: make one with `llm-bip plan`');
    if (!stringOption(ctx.values, 'output')) throw new UsageError('missing -o OUT_DIR: say which folder gets the pruned model');
    booleanOption(ctx.values, 'compensate');
    requireExisting(model, 'model', 'file');
    requireExisting(plan, 'plan', 'file');
    return notAvailable('prune', 'the surgery package');
  },
});
