import { benchmarkSpeed, formatReport, type SpeedResult } from '@llm-bip/eval';
import type { KvLayout } from '@llm-bip/runtime';
import { checkWithinContext, contextLengthOf } from '@llm-bip/model';
import { kvLayoutOfFile } from '../kv-layout.js';
import { noExtraPositionals, parseChoice, parseIntOption, requirePositional, stringOption } from '../../args.js';
import { defineCommand, type CommandContext } from '../../command.js';
import { createSessionFor } from '../eval/deps.js';
import { evalProgress } from '../eval-progress.js';
import { resolveModelInput } from '../model-input.js';
import { EXECUTION_PROVIDERS, epOption } from '../shared-options.js';

export interface BenchRequest {
  prompt: number;
  decode: number;
  batch: number;
  repeats: number;
  ep: (typeof EXECUTION_PROVIDERS)[number];
}

/** Prefill (batch x prompt) and decode throughput of one ONNX model. */
export async function runBench(ctx: CommandContext, onnxPath: string, req: BenchRequest, label = '', kv?: KvLayout): Promise<SpeedResult> {
  checkWithinContext('--prompt + --decode', req.prompt + req.decode, contextLengthOf(onnxPath));
  const session = await createSessionFor(onnxPath, req.ep, ctx);
  const progress = evalProgress(ctx, label);
  try {
    return await benchmarkSpeed(session, {
      batch: [req.batch],
      seq: [req.prompt],
      iterations: req.repeats,
      decode: req.decode > 0 ? { batch: req.batch, promptLen: req.prompt, newTokens: req.decode } : null,
      onProgress: progress.onProgress,
      ...(kv ? { kv } : {}),
    });
  } finally {
    progress.finish();
    await session.release();
  }
}

export function parseBenchRequest(ctx: CommandContext): BenchRequest {
  return {
    prompt: parseIntOption(stringOption(ctx.values, 'prompt'), '--prompt', 128),
    decode: parseIntOption(stringOption(ctx.values, 'decode'), '--decode', 32, 0),
    batch: parseIntOption(stringOption(ctx.values, 'batch'), '--batch', 1),
    repeats: parseIntOption(stringOption(ctx.values, 'repeats'), '--repeats', 5),
    ep: parseChoice(stringOption(ctx.values, 'ep'), '--ep', EXECUTION_PROVIDERS, 'auto'),
  };
}

export const benchOptions = {
  prompt: { type: 'string', value: 'N', description: 'prompt tokens for the prefill measurement', defaultText: '128' },
  decode: { type: 'string', value: 'N', description: 'tokens to decode after the prompt, 0 to skip (uses the KV cache when the model has one)', defaultText: '32' },
  batch: { type: 'string', value: 'B', description: 'batch size', defaultText: '1' },
  repeats: { type: 'string', value: 'N', description: 'timed repetitions after one warm-up; the median is reported', defaultText: '5' },
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
    const model = requirePositional(ctx, 0, 'MODEL', 'bench', 'give an ONNX file or an HF checkpoint folder');
    noExtraPositionals(ctx, 1, 'bench');
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
