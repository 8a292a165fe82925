import { noExtraPositionals, parseChoice, requireExisting, requirePositional, stringOption } from '../../args.js';
import { defineCommand } from '../../command.js';
import { UsageError } from '../../errors.js';
import { notAvailable } from '../../not-available.js';
import { outputOption } from '../shared-options.js';

export const exportCommand = defineCommand({
  name: 'export',
  summary: 'export a Hugging Face LLaMA checkpoint folder to ONNX',
  usage: 'CHECKPOINT -o MODEL.onnx [options]',
  options: {
    ...outputOption('the ONNX file to write (weights go to MODEL.onnx.data beside it)'),
    dtype: { type: 'string', value: 'T', description: 'weight type: fp32 | fp16', defaultText: 'fp32' },
    'kv-cache': { type: 'boolean', description: 'add past/present KV-cache inputs and outputs (for decoding)' },
  },
  examples: [
    { command: 'llm-bip export ../shared/testbed/bip-llama-tiny -o tiny.onnx', explain: 'fp32, no KV cache' },
    { command: 'llm-bip export ./my-llama --dtype fp16 --kv-cache -o my-llama.onnx', explain: 'fp16 weights with a KV cache' },
  ],
  async run(ctx) {
    const checkpoint = requirePositional(ctx, 0, 'CHECKPOINT', 'export', 'give a Hugging Face checkpoint folder (config.json + *.safetensors)');
    noExtraPositionals(ctx, 1, 'export');
    const output = stringOption(ctx.values, 'output');
    if (!output) throw new UsageError('missing -o MODEL.onnx: say where to write the exported model');
    parseChoice(stringOption(ctx.values, 'dtype'), '--dtype', ['fp32', 'fp16'] as const, 'fp32');
    requireExisting(checkpoint, 'checkpoint folder', 'folder');
    return notAvailable('export', 'the onnx-io HF exporter');
  },
});
