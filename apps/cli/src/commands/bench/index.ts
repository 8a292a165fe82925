import { noExtraPositionals, parseChoice, parseIntOption, requireExisting, requirePositional, stringOption } from '../../args.js';
import { defineCommand } from '../../command.js';
import { notAvailable } from '../../not-available.js';
import { EXECUTION_PROVIDERS, epOption } from '../shared-options.js';

export const benchCommand = defineCommand({
  name: 'bench',
  summary: 'measure prefill and decode speed (tokens/s) of a model',
  usage: 'MODEL [options]',
  options: {
    prompt: { type: 'string', value: 'N', description: 'prompt tokens for the prefill measurement', defaultText: '128' },
    decode: { type: 'string', value: 'N', description: 'tokens to decode (needs a KV-cache model)', defaultText: '32' },
    batch: { type: 'string', value: 'B', description: 'batch size', defaultText: '1' },
    repeats: { type: 'string', value: 'N', description: 'timed repetitions after one warm-up', defaultText: '5' },
    ...epOption,
  },
  examples: [
    { command: 'llm-bip bench model.onnx', explain: 'prefill 128 tokens, decode 32, on the best available provider' },
    { command: 'llm-bip bench pruned/model.onnx --ep cpu --prompt 512 --json', explain: 'CPU only, longer prompt, as JSON' },
  ],
  async run(ctx) {
    const model = requirePositional(ctx, 0, 'MODEL', 'bench', 'give an ONNX file');
    noExtraPositionals(ctx, 1, 'bench');
    parseIntOption(stringOption(ctx.values, 'prompt'), '--prompt', 128);
    parseIntOption(stringOption(ctx.values, 'decode'), '--decode', 32, 0);
    parseIntOption(stringOption(ctx.values, 'batch'), '--batch', 1);
    parseIntOption(stringOption(ctx.values, 'repeats'), '--repeats', 5);
    parseChoice(stringOption(ctx.values, 'ep'), '--ep', EXECUTION_PROVIDERS, 'auto');
    requireExisting(model, 'model', 'file');
    return notAvailable('bench', 'the eval package speed benchmark');
  },
});
