import { noExtraPositionals, parseChoice, parseRatio, requireExisting, requirePositional, stringOption } from '../../args.js';
import { defineCommand } from '../../command.js';
import { UsageError } from '../../errors.js';
import { notAvailable } from '../../not-available.js';
import { ALLOCATIONS, outputOption } from '../shared-options.js';

export const planCommand = defineCommand({
  name: 'plan',
  summary: 'turn scores into a pruning plan (which heads and channels to keep per layer)',
  usage: 'MODEL --scores SCORES.json --ratio R -o PLAN.json [options]',
  options: {
    scores: { type: 'string', value: 'FILE', description: 'scores written by `llm-bip score`' },
    ratio: { type: 'string', value: 'R', description: 'fraction of attention+MLP parameters to remove, in (0, 1)' },
    allocation: { type: 'string', value: 'MODE', description: `how the ratio is spread over layers: ${ALLOCATIONS.join(' | ')}`, defaultText: 'global-kind' },
    ...outputOption('plan JSON to write'),
  },
  examples: [
    { command: 'llm-bip plan model.onnx --scores scores.json --ratio 0.2 -o plan.json', explain: 'remove 20 % with the default global-kind allocation' },
    { command: 'llm-bip plan model.onnx --scores scores.json --ratio 0.5 --allocation uniform -o plan50.json', explain: 'the same fraction in every layer' },
  ],
  async run(ctx) {
    const model = requirePositional(ctx, 0, 'MODEL', 'plan', 'give the ONNX file (or HF folder) the scores were computed on');
    noExtraPositionals(ctx, 1, 'plan');
    parseRatio(stringOption(ctx.values, 'ratio'));
    parseChoice(stringOption(ctx.values, 'allocation'), '--allocation', ALLOCATIONS, 'global-kind');
    const scores = stringOption(ctx.values, 'scores');
    if (!scores) throw new UsageError('missing --scores FILE: run `llm-bip score MODEL -o scores.json` first and pass its output');
    if (!stringOption(ctx.values, 'output')) throw new UsageError('missing -o PLAN.json: say where to write the plan');
    requireExisting(model, 'model');
    requireExisting(scores, 'scores file', 'file');
    return notAvailable('plan', 'the scoring package allocation (scores -> PruningPlan)');
  },
});
