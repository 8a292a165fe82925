import { formatReport, type SpeedResult } from '@llm-bip/eval';
import { benchModel, DEFAULTS } from '@llm-bip/pipeline';
import type { KvLayout } from '@llm-bip/runtime';
import { kvLayoutOfFile } from '../kv-layout.js';
import { parseChoice, parseIntOption, soleArgument, stringOption } from '../../args.js';
import { defineCommand, type CommandContext } from '../../command.js';
import { resolveModelInput } from '../model-input.js';
import { hooksFor } from '../pipeline.js';
import { EXECUTION_PROVIDERS, epOption } from '../shared-options.js';

export interface BenchRequest {
  prompt: number;
  decode: number;
  batch: number;
  repeats: number;
  ep: (typeof EXECUTION_PROVIDERS)[number];
}

/** Prefill (batch x prompt) and decode throughput of one ONNX model (the pipeline's benchModel). */
export async function runBench(ctx: CommandContext, onnxPath: string, req: BenchRequest, label = '', kv?: KvLayout): Promise<SpeedResult> {
  return benchModel({ path: onnxPath, ...(kv ? { kv } : {}) }, req, hooksFor(ctx), { label });
}

export function parseBenchRequest(ctx: CommandContext): BenchRequest {
  const d = DEFAULTS.bench;
  return {
    prompt: parseIntOption(stringOption(ctx.values, 'prompt'), '--prompt', d.prompt),
    decode: parseIntOption(stringOption(ctx.values, 'decode'), '--decode', d.decode, 0),
    batch: parseIntOption(stringOption(ctx.values, 'batch'), '--batch', d.batch),
    repeats: parseIntOption(stringOption(ctx.values, 'repeats'), '--repeats', d.repeats),
    ep: parseChoice(stringOption(ctx.values, 'ep'), '--ep', EXECUTION_PROVIDERS, DEFAULTS.ep),
  };
}

export const benchOptions = {
  prompt: { type: 'string', value: 'N', description: 'prompt tokens for the prefill measurement', defaultText: String(DEFAULTS.bench.prompt) },
  decode: { type: 'string', value: 'N', description: 'tokens to decode after the prompt, 0 to skip (uses the KV cache when the model has one)', defaultText: String(DEFAULTS.bench.decode) },
  batch: { type: 'string', value: 'B', description: 'batch size', defaultText: String(DEFAULTS.bench.batch) },
  repeats: { type: 'string', value: 'N', description: 'timed repetitions after one warm-up; the median is reported', defaultText: String(DEFAULTS.bench.repeats) },
} as const;

export const benchCommand = defineCommand({
  name: 'bench',
  summary: 'measure prefill and decode speed (tokens/s) of a model',
  usage: 'MODEL [options]',
  options: { ...benchOptions, ...epOption },
  examples: [
    { command: 'llm-bip bench model.onnx', explain: 'prefill 128 tokens, decode 32, on the best available provider' },
    { command: 'llm-bip bench pruned/model.onnx --ep cpu --prompt 512 --decode 0 --json', explain: 'CPU only, longer prompt, no decoding, as JSON' },
  ],
  async run(ctx) {
    const model = soleArgument(ctx, 'MODEL', 'bench', 'give an ONNX file or an HF checkpoint folder');
    const req = parseBenchRequest(ctx);
    const input = await resolveModelInput(model, ctx, { kvCache: true });
    try {
      const speed = await runBench(ctx, input.onnxPath, req, '', await kvLayoutOfFile(input.onnxPath));
      return { result: speed, text: formatReport({ speed, config: {} }) };
    } finally {
      input.dispose();
    }
  },
});
