import { listOption, noExtraPositionals, parseChoice, parseIntOption, requireExisting, requirePositional, stringOption } from '../../args.js';
import { defineCommand } from '../../command.js';
import { notAvailable } from '../../not-available.js';
import { EXECUTION_PROVIDERS, epOption } from '../shared-options.js';

export const PPL_DATASETS = ['wikitext2', 'ptb'] as const;
export const TASKS = ['boolq', 'piqa', 'hellaswag', 'winogrande', 'arc_easy', 'arc_challenge', 'openbookqa'] as const;

export const evalCommand = defineCommand({
  name: 'eval',
  summary: 'perplexity (WikiText-2, PTB) and zero-shot task accuracy of a model',
  usage: 'MODEL [options]',
  options: {
    ppl: { type: 'string', value: 'LIST', description: `perplexity datasets, comma-separated: ${PPL_DATASETS.join(', ')}`, defaultText: 'wikitext2,ptb' },
    tasks: { type: 'string', value: 'LIST', description: `zero-shot tasks, comma-separated: ${TASKS.join(', ')} or "none"`, defaultText: 'none' },
    'seq-len': { type: 'string', value: 'L', description: 'perplexity window length in tokens', defaultText: '128' },
    limit: { type: 'string', value: 'N', description: 'evaluate only the first N windows / task examples (quick checks)' },
    data: { type: 'string', value: 'DIR', description: 'folder with the datasets', defaultText: '../shared/data' },
    ...epOption,
  },
  examples: [
    { command: 'llm-bip eval model.onnx', explain: 'WikiText-2 test and PTB validation perplexity at 128 tokens' },
    { command: 'llm-bip eval pruned/model.onnx --ppl wikitext2 --tasks boolq,piqa --limit 200 --json', explain: 'a quick check, as JSON' },
  ],
  async run(ctx) {
    const model = requirePositional(ctx, 0, 'MODEL', 'eval', 'give an ONNX file or an HF checkpoint folder');
    noExtraPositionals(ctx, 1, 'eval');
    for (const d of listOption(ctx.values, 'ppl') ?? []) parseChoice(d, '--ppl', PPL_DATASETS, 'wikitext2');
    for (const t of listOption(ctx.values, 'tasks') ?? []) if (t !== 'none') parseChoice(t, '--tasks', TASKS, 'boolq');
    parseIntOption(stringOption(ctx.values, 'seq-len'), '--seq-len', 128, 2);
    parseIntOption(stringOption(ctx.values, 'limit'), '--limit', Number.MAX_SAFE_INTEGER);
    parseChoice(stringOption(ctx.values, 'ep'), '--ep', EXECUTION_PROVIDERS, 'auto');
    requireExisting(model, 'model');
    return notAvailable('eval', 'the eval package (tokenizer, datasets, perplexity, zero-shot)');
  },
});
