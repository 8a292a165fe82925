import { dirname, resolve } from 'node:path';
import { exportGguf, GGUF_DTYPES, planGgufExport } from '@llm-bip/model';
import { loadModelInput } from '@llm-bip/pipeline';
import { parseChoice, soleArgument, stringOption } from '../../args.js';
import { defineCommand } from '../../command.js';
import { fsError, UsageError } from '../../errors.js';
import { prepareOutputDir } from '../../output.js';
import { assertOutputsDoNotReplaceInputs } from '../../output-identity.js';
import { resolveModelInput } from '../model-input.js';
import { outputOption, tokenizerOption } from '../shared-options.js';

export const exportGgufCommand = defineCommand({
  name: 'export-gguf',
  summary: 'write a (pruned) model as one GGUF file for llama.cpp and the runtimes built on it',
  usage: 'MODEL -o OUT.gguf [options]',
  description:
    'MODEL is an ONNX file (dense or pruned by llm-bip; tokenizer.json beside it or --tokenizer) or a Hugging Face checkpoint folder. ' +
    "Layers of equal widths are written as llama.cpp's `llama` architecture; per-layer widths (a non-uniform plan) as `deci`, which llama.cpp loads with per-layer head counts and FFN widths.",
  options: {
    ...outputOption('the .gguf file to write'),
    dtype: { type: 'string', value: 'T', description: `weight type: ${GGUF_DTYPES.join(' | ')} (norms stay f32; q8_0 keeps f16 for rows not a multiple of 32)`, defaultText: 'f16' },
    ...tokenizerOption,
  },
  examples: [
    { command: 'llm-bip export-gguf out/model.onnx -o pruned.gguf', explain: 'the model prune-llm wrote, fp16' },
    { command: 'llm-bip export-gguf ../shared/testbed/bip-llama-tiny --dtype q8_0 -o tiny-q8.gguf', explain: 'an HF checkpoint, 8-bit' },
  ],
  async run(ctx) {
    const model = soleArgument(ctx, 'MODEL', 'export-gguf', 'give an ONNX file or an HF checkpoint folder, e.g. `llm-bip export-gguf out/model.onnx -o model.gguf`');
    const output = stringOption(ctx.values, 'output');
    if (!output) throw new UsageError('missing -o OUT.gguf: say where to write the GGUF file');
    if (!output.endsWith('.gguf')) throw new UsageError(`-o ${output}: the output is one GGUF file and must end in .gguf, e.g. -o model.gguf`);
    const dtype = parseChoice(stringOption(ctx.values, 'dtype'), '--dtype', GGUF_DTYPES, 'f16');
    const input = await resolveModelInput(model, ctx, { kvCache: false, ...(stringOption(ctx.values, 'tokenizer') ? { tokenizer: stringOption(ctx.values, 'tokenizer')! } : {}) });
    try {
      assertOutputsDoNotReplaceInputs({ inputs: [input.onnxPath, input.tokenizer], outputFile: output });
      const loaded = await loadModelInput(input.onnxPath);
      // every check (graph, widths, rope, tokenizer) runs here, before the output folder is touched
      const plan = planGgufExport(loaded, { dtype, tokenizer: input.tokenizer });
      ctx.log(`gguf: ${plan.architecture} architecture, ${plan.tensors.length} tensors, ${dtype}; tokenizer: ${plan.tokenizer}`);
      if (plan.f16Fallbacks.length) ctx.log(`gguf: ${plan.f16Fallbacks.length} matrices stay f16 (rows not a multiple of 32 values): ${plan.f16Fallbacks.slice(0, 3).join(', ')}${plan.f16Fallbacks.length > 3 ? ', ...' : ''}`);
      await prepareOutputDir(dirname(resolve(output)));
      const bar = ctx.progress({ label: 'export-gguf', unit: 'tensor' });
      const result = await exportGguf(loaded, output, {
        dtype,
        tokenizer: input.tokenizer,
        signal: ctx.signal,
        onProgress: (p) => bar.update(p.done, p.total),
        onTemp: (tmp, done) => (done ? ctx.cleanup.release(tmp) : ctx.cleanup.add(tmp)),
      }).catch((e: unknown) => {
        throw (e as NodeJS.ErrnoException).code && !(e instanceof Error && e.name === 'AbortError') ? fsError(e, output) : e;
      });
      bar.finish();
      const summary = {
        output: result.path,
        bytes: result.bytes,
        architecture: result.architecture,
        dtype: result.dtype,
        tensors: result.tensors,
        layers: loaded.spec.numLayers,
        heads: loaded.spec.layers.map((l) => l.numHeads),
        kvHeads: loaded.spec.layers.map((l) => l.numKvHeads),
        ffn: loaded.spec.layers.map((l) => l.intermediateSize),
        tokenizer: result.tokenizer,
        f16Fallbacks: result.f16Fallbacks,
        ...(input.exportedFrom ? { exportedFrom: input.exportedFrom } : {}),
      };
      const widths = new Set(summary.heads.map((h, i) => `${h}/${summary.kvHeads[i]}/${summary.ffn[i]}`)).size === 1 ? 'uniform layers' : 'per-layer widths';
      return {
        result: summary,
        text: `wrote ${output}: ${result.architecture} (${widths}), ${summary.layers} layers, ${dtype}, ${result.tensors} tensors, ${result.bytes.toLocaleString('en-US')} bytes`,
      };
    } finally {
      input.dispose();
    }
  },
});
