import { basename, dirname } from 'node:path';
import { exportLlamaToOnnx } from '@llm-bip/model';
import { booleanOption, parseChoice, requireExisting, soleArgument, stringOption } from '../../args.js';
import { defineCommand } from '../../command.js';
import { UsageError } from '../../errors.js';
import { OutputSet } from '../../output.js';
import { outputOption } from '../shared-options.js';

export const exportCommand = defineCommand({
  name: 'export',
  summary: 'export a Hugging Face LLaMA checkpoint folder to ONNX',
  usage: 'CHECKPOINT -o MODEL.onnx [options]',
  options: {
    ...outputOption('the ONNX file to write (external weights go to MODEL.onnx.data beside it)'),
    dtype: { type: 'string', value: 'T', description: 'weight type: fp32 | fp16', defaultText: 'fp32' },
    'kv-cache': { type: 'boolean', description: 'add past/present KV-cache inputs and outputs (for decoding)' },
    'external-data': { type: 'boolean', description: 'always put the weights in MODEL.onnx.data (default: only over 1 GiB)' },
  },
  examples: [
    { command: 'llm-bip export ../shared/testbed/bip-llama-tiny -o tiny.onnx', explain: 'fp32, no KV cache' },
    { command: 'llm-bip export ./my-llama --dtype fp16 --kv-cache --external-data -o my-llama.onnx', explain: 'fp16 weights in a data file, with a KV cache' },
  ],
  async run(ctx) {
    const checkpoint = soleArgument(ctx, 'CHECKPOINT', 'export', 'give a Hugging Face checkpoint folder (config.json + *.safetensors)');
    const output = stringOption(ctx.values, 'output');
    if (!output) throw new UsageError('missing -o MODEL.onnx: say where to write the exported model');
    if (!output.endsWith('.onnx')) throw new UsageError(`-o ${output}: the output is the model file and must end in .onnx, e.g. -o model.onnx`);
    const dtype = parseChoice(stringOption(ctx.values, 'dtype'), '--dtype', ['fp32', 'fp16'] as const, 'fp32');
    const kvCache = booleanOption(ctx.values, 'kv-cache');
    const externalData = booleanOption(ctx.values, 'external-data');
    requireExisting(checkpoint, 'checkpoint folder', 'folder');

    // the exporter writes into a staging folder; model and data move into place together
    const out = await OutputSet.open(dirname(output), ctx.cleanup);
    const bar = ctx.progress({ label: 'export', unit: 'tensor' });
    const result = await exportLlamaToOnnx(checkpoint, out.path(basename(output)), {
      dtype: dtype === 'fp16' ? 'float16' : 'float32',
      kvCache,
      ...(externalData ? { externalData: true } : {}),
      onProgress: (p) => {
        ctx.signal.throwIfAborted();
        bar.update(p.done, p.total);
      },
    });
    bar.finish();
    ctx.signal.throwIfAborted();
    const files = await out.commit();
    const c = result.config;
    const summary = {
      output: files.find((f) => f.endsWith('.onnx')) ?? output,
      dataFile: files.find((f) => f.endsWith('.onnx.data')) ?? null,
      bytes: result.bytesWritten,
      dtype,
      kvCache,
      layers: c.numLayers,
      hiddenSize: c.hiddenSize,
      heads: c.numHeads,
      kvHeads: c.numKvHeads,
      intermediateSize: c.intermediateSize,
      vocabSize: c.vocabSize,
    };
    return {
      result: summary,
      text: `exported ${checkpoint} -> ${summary.output}${summary.dataFile ? ` (+ ${basename(summary.dataFile)})` : ''}: ${c.numLayers} layers, hidden ${c.hiddenSize}, ${c.numHeads} heads / ${c.numKvHeads} KV heads, FFN ${c.intermediateSize}, ${dtype}${kvCache ? ', KV cache' : ''}, ${summary.bytes.toLocaleString('en-US')} bytes`,
    };
  },
});
