import { describeSpec, formatSpecSummary } from '@llm-bip/model';
import { booleanOption, soleArgument } from '../../args.js';
import { defineCommand } from '../../command.js';
import { loadModelInput } from '@llm-bip/pipeline';
import { resolveModelInput } from '../model-input.js';

export const inspectCommand = defineCommand({
  name: 'inspect',
  summary: 'recognise a model and print its block map (layers, heads, KV heads, FFN width, parameters)',
  usage: 'MODEL [options]',
  description: 'MODEL is an ONNX file (weights inline or in .onnx.data) or a Hugging Face checkpoint folder (exported once, cached by content).',
  options: {
    spec: { type: 'boolean', description: 'print the whole ModelSpec (graph names per layer) instead of the summary' },
  },
  examples: [
    { command: 'llm-bip inspect model.onnx', explain: 'which exporter made it, and the shape of every layer' },
    { command: 'llm-bip inspect ../shared/testbed/bip-llama-tiny --json', explain: 'an HF checkpoint, as JSON' },
  ],
  async run(ctx) {
    const model = soleArgument(ctx, 'MODEL', 'inspect', 'give an ONNX file or an HF checkpoint folder, e.g. `llm-bip inspect model.onnx`');
    const input = await resolveModelInput(model, ctx, { kvCache: false });
    try {
      const { spec } = await loadModelInput(input.onnxPath);
      if (booleanOption(ctx.values, 'spec')) return { result: spec, text: JSON.stringify(spec, null, 2) };
      const summary = describeSpec(spec);
      return { result: summary, text: formatSpecSummary(summary) };
    } finally {
      input.dispose();
    }
  },
});
