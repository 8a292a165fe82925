import { noExtraPositionals } from '../../args.js';
import { defineCommand } from '../../command.js';
import { notAvailable } from '../../not-available.js';
import { outputOption } from '../shared-options.js';

export const demoCommand = defineCommand({
  name: 'demo',
  summary: 'prune the embedded demo model by 20 % and print dense vs pruned parameters, perplexity and speed',
  usage: '[options]',
  description: 'Runs on CPU in a few minutes with no arguments: the whole prune-llm pipeline on the small model shipped in the repository.',
  options: {
    ...outputOption('folder for the pruned model, plan, results.json and report.html', true),
    ratio: { type: 'string', value: 'R', description: 'fraction of attention+MLP parameters to remove, in (0, 1)', defaultText: '0.2' },
  },
  examples: [
    { command: 'llm-bip demo', explain: 'the whole pipeline on the embedded model, output in a temp folder' },
    { command: 'llm-bip demo -o demo-out/ --ratio 0.5', explain: 'keep the outputs, prune half' },
  ],
  async run(ctx) {
    noExtraPositionals(ctx, 0, 'demo');
    return notAvailable('demo', 'the full pipeline (onnx-io exporter, scoring, surgery, eval)');
  },
});
