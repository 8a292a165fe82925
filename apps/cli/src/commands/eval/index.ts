import { evaluateModel, DEFAULTS, type EvalRequest as PipelineEvalRequest, type EvalRun } from '@llm-bip/pipeline';
import type { KvLayout } from '@llm-bip/runtime';
import { listOption, parseChoice, parseIntOption, soleArgument, stringOption } from '../../args.js';
import { defineCommand, type CommandContext } from '../../command.js';
import { CliError, ExitCode } from '../../errors.js';
import { kvLayoutOfFile } from '../kv-layout.js';
import { cacheDir, dataDir, resolveModelInput } from '../model-input.js';
import { hooksFor } from '../pipeline.js';
import { EXECUTION_PROVIDERS, epOption, evalMemoryOptions } from '../shared-options.js';
import { parseScoringMemory } from '../calibration-args.js';
import { checkTokenizerMatchesModel } from '../tokenizer-check.js';
import { buildReport, formatReport, loadTokenizer, type TaskName } from './deps.js';

export type { EvalRun };

export const PPL_DATASETS = ['wikitext2', 'ptb', 'ptb-test'] as const;
export const TASKS = ['boolq', 'piqa', 'hellaswag', 'winogrande', 'arc_easy', 'arc_challenge', 'openbookqa'] as const;

export interface EvalRequest extends PipelineEvalRequest {
  seqLen: number;
  ep: (typeof EXECUTION_PROVIDERS)[number];
}

/** Perplexity + tasks of one ONNX model (the pipeline's evaluateModel), its tokenizer checked against the model's logits. */
export async function runEvaluation(ctx: CommandContext, onnxPath: string, tokenizerPath: string, req: EvalRequest, label = '', kv?: KvLayout): Promise<EvalRun> {
  return evaluateModel({ path: onnxPath, ...(kv ? { kv } : {}) }, loadTokenizer(tokenizerPath), { ...req, cacheDir: cacheDir(ctx.env) }, hooksFor(ctx), {
    label,
    checkVocab: (vocab) => checkTokenizerMatchesModel(tokenizerPath, vocab, onnxPath),
  });
}

export function parseEvalList(raw: string[] | undefined, fallback: string[], option: string): { ppl: string[]; tasks: TaskName[] } {
  const items = raw ?? fallback;
  const ppl: string[] = [];
  const tasks: TaskName[] = [];
  for (const item of items) {
    if (item === 'none') continue;
    if ((PPL_DATASETS as readonly string[]).includes(item)) ppl.push(item);
    else if ((TASKS as readonly string[]).includes(item)) tasks.push(item as TaskName);
    else throw new CliError(`${option}: unknown dataset or task "${item}"; choose from ${[...PPL_DATASETS, ...TASKS].join(', ')} or "none"`, ExitCode.usage);
  }
  return { ppl, tasks };
}

export const evalCommand = defineCommand({
  name: 'eval',
  summary: 'perplexity (WikiText-2, PTB) and zero-shot task accuracy of a model',
  usage: 'MODEL [options]',
  description: 'MODEL is an ONNX file (tokenizer.json beside it, or --tokenizer) or an HF checkpoint folder.',
  options: {
    ppl: { type: 'string', value: 'LIST', description: `perplexity sets, comma-separated: ${PPL_DATASETS.join(', ')} or "none"`, defaultText: DEFAULTS.eval.ppl.join(',') },
    tasks: { type: 'string', value: 'LIST', description: `zero-shot tasks, comma-separated: ${TASKS.join(', ')} or "none"`, defaultText: 'none' },
    'seq-len': { type: 'string', value: 'L', description: 'perplexity window length in tokens', defaultText: String(DEFAULTS.eval.seqLen) },
    limit: { type: 'string', value: 'N', description: 'evaluate only the first N windows / task examples (quick checks)' },
    'task-limit': { type: 'string', value: 'N', description: 'evaluate only the first N examples of each task (perplexity sets stay whole unless --limit)', defaultText: '--limit' },
    'batch-size': { type: 'string', value: 'N', description: 'sequences per forward pass', defaultText: 'windows: as many as a memory estimate allows; 8 task requests' },
    tokenizer: { type: 'string', value: 'PATH', description: 'tokenizer.json or its folder', defaultText: 'the model\'s folder' },
    data: { type: 'string', value: 'DIR', description: 'folder with the datasets', defaultText: '$LLM_BIP_DATA, then the `llm-bip data fetch` cache, then ../shared/data' },
    ...epOption,
    ...evalMemoryOptions,
  },
  examples: [
    { command: 'llm-bip eval model.onnx', explain: 'WikiText-2 test and PTB validation perplexity at 128 tokens' },
    { command: 'llm-bip eval pruned/model.onnx --ppl wikitext2 --tasks boolq,piqa --limit 200 --json', explain: 'a quick check, as JSON' },
    { command: 'llm-bip eval llama-70b/model.onnx --ppl wikitext2 --ep cuda --max-device-memory 40GB', explain: 'a model larger than the GPU: evaluated block by block, as many blocks per session as fit 40 GB' },
  ],
  async run(ctx) {
    const model = soleArgument(ctx, 'MODEL', 'eval', 'give an ONNX file or an HF checkpoint folder');
    const ppl = parseEvalList(listOption(ctx.values, 'ppl'), DEFAULTS.eval.ppl, '--ppl');
    const tasks = parseEvalList(listOption(ctx.values, 'tasks'), [], '--tasks');
    if (ppl.tasks.length) throw new CliError(`--ppl takes perplexity sets (${PPL_DATASETS.join(', ')}); put tasks in --tasks`, ExitCode.usage);
    if (tasks.ppl.length) throw new CliError(`--tasks takes zero-shot tasks (${TASKS.join(', ')}); put perplexity sets in --ppl`, ExitCode.usage);
    const limitRaw = stringOption(ctx.values, 'limit');
    const taskLimitRaw = stringOption(ctx.values, 'task-limit');
    const batchRaw = stringOption(ctx.values, 'batch-size');
    const req: EvalRequest = {
      ppl: ppl.ppl,
      tasks: tasks.tasks,
      seqLen: parseIntOption(stringOption(ctx.values, 'seq-len'), '--seq-len', DEFAULTS.eval.seqLen, 2),
      ...(limitRaw !== undefined ? { limit: parseIntOption(limitRaw, '--limit', 1) } : {}),
      ...(taskLimitRaw !== undefined ? { taskLimit: parseIntOption(taskLimitRaw, '--task-limit', 1) } : {}),
      ...(batchRaw !== undefined ? { batchSize: parseIntOption(batchRaw, '--batch-size', 1) } : {}),
      dataDir: dataDir(stringOption(ctx.values, 'data')),
      ep: parseChoice(stringOption(ctx.values, 'ep'), '--ep', EXECUTION_PROVIDERS, 'auto'),
      ...parseScoringMemory(ctx),
    };
    if (!req.ppl.length && !req.tasks.length) throw new CliError('nothing to evaluate: give --ppl and/or --tasks', ExitCode.usage);
    const tokenizerOpt = stringOption(ctx.values, 'tokenizer');
    const input = await resolveModelInput(model, ctx, { ...(tokenizerOpt ? { tokenizer: tokenizerOpt } : {}), kvCache: false });
    try {
      const run = await runEvaluation(ctx, input.onnxPath, input.tokenizer, req, '', await kvLayoutOfFile(input.onnxPath));
      const reportInput = { perplexity: run.perplexity, ...(run.tasks ? { tasks: run.tasks } : {}), config: { model, ep: run.ep, seqLen: req.seqLen, limit: req.limit ?? null, taskLimit: req.taskLimit ?? req.limit ?? null } };
      // block by block: the plan's per-segment estimates (and, on CUDA, what each segment held) for comparing with measured peaks
      return { result: { ...buildReport(reportInput), ...(run.blockwise ? { blockwise: run.blockwise } : {}) }, text: formatReport(reportInput) };
    } finally {
      input.dispose();
    }
  },
});
