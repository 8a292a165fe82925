import { join } from 'node:path';
import { logitsOutputName, type KvLayout, type Session } from '@llm-bip/runtime';
import { listOption, noExtraPositionals, parseChoice, parseIntOption, requirePositional, stringOption } from '../../args.js';
import { defineCommand, type CommandContext } from '../../command.js';
import { CliError, ExitCode } from '../../errors.js';
import { evalProgress } from '../eval-progress.js';
import { kvLayoutOfFile } from '../kv-layout.js';
import { cacheDir, dataDir, resolveModelInput } from '../model-input.js';
import { EXECUTION_PROVIDERS, epOption } from '../shared-options.js';
import { checkTokenizerMatchesModel } from '../tokenizer-check.js';
import { ARGMAX_OUTPUT, TOKEN_LOGPROB_OUTPUT, buildReport, createScoringSessionFor, evaluatePerplexity, evaluateTasks, formatReport, loadTextDataset, loadTokenizer, locatePerplexitySet, type PerplexityResult, type TaskName, type TasksResult } from './deps.js';

/** The model's vocabulary: the last dimension of its logits output, when the graph states it. */
function logitsVocab(session: Session): number | undefined {
  // the scoring head's outputs are not the model's: leave them out when looking for its logits
  const headOutputs = new Set([TOKEN_LOGPROB_OUTPUT, ARGMAX_OUTPUT]);
  const modelOutputs = session.outputNames.filter((n) => !headOutputs.has(n));
  const logits = modelOutputs.includes('logits') ? 'logits' : modelOutputs.length === 1 ? modelOutputs[0]! : logitsOutputName(session);
  const meta = session.outputMetadata.find((m) => m.name === logits);
  const last = meta && meta.isTensor ? meta.shape[meta.shape.length - 1] : undefined;
  return typeof last === 'number' ? last : undefined;
}

export const PPL_DATASETS = ['wikitext2', 'ptb', 'ptb-test'] as const;
export const TASKS = ['boolq', 'piqa', 'hellaswag', 'winogrande', 'arc_easy', 'arc_challenge', 'openbookqa'] as const;

export interface EvalRequest {
  ppl: string[];
  tasks: TaskName[];
  seqLen: number;
  limit?: number;
  /** First N examples of each task (default: limit). */
  taskLimit?: number;
  /** Sequences per forward pass (default: the eval package's, 4 windows / 8 task requests). */
  batchSize?: number;
  dataDir: string;
  ep: (typeof EXECUTION_PROVIDERS)[number];
}

export interface EvalRun {
  ep: string;
  perplexity: PerplexityResult[];
  tasks?: TasksResult;
}

/** Perplexity + tasks of one ONNX model: the step prune-llm runs twice (dense, pruned). */
export async function runEvaluation(ctx: CommandContext, onnxPath: string, tokenizerPath: string, req: EvalRequest, label = '', kv?: KvLayout): Promise<EvalRun> {
  // log-probs are reduced in the graph (the logits never leave ORT); bench keeps a plain session
  const { session, cleanup } = await createScoringSessionFor(onnxPath, req.ep, ctx);
  const progress = evalProgress(ctx, label);
  try {
    checkTokenizerMatchesModel(tokenizerPath, logitsVocab(session), onnxPath);
    const tokenizer = loadTokenizer(tokenizerPath);
    const perplexity: PerplexityResult[] = [];
    for (const name of req.ppl) {
      const path = locatePerplexitySet(name, req.dataDir);
      // the first run tokenizes the whole set (seconds to a minute); later runs read the cache
      ctx.log(`${label}${name}: ${path}`);
      const dataset = await loadTextDataset(name, path);
      perplexity.push(
        await evaluatePerplexity(session, tokenizer, dataset, {
          seqLen: req.seqLen,
          cacheDir: cacheDir(ctx.env),
          onProgress: progress.onProgress,
          ...(req.limit !== undefined ? { limit: req.limit } : {}),
          ...(req.batchSize !== undefined ? { batchSize: req.batchSize } : {}),
          ...(kv ? { kv } : {}),
        }),
      );
    }
    let tasks: TasksResult | undefined;
    if (req.tasks.length) {
      tasks = await evaluateTasks(session, tokenizer, {
        tasksDir: join(req.dataDir, 'tasks'),
        tasks: req.tasks,
        onProgress: progress.onProgress,
        ...((req.taskLimit ?? req.limit) !== undefined ? { limit: req.taskLimit ?? req.limit } : {}),
        ...(req.batchSize !== undefined ? { batchSize: req.batchSize } : {}),
        // WebGPU compiles kernels per input shape: round request lengths up so few shapes occur
        ...(session.ep === 'webgpu' ? { seqMultiple: 16 } : {}),
        ...(kv ? { kv } : {}),
      });
      if (tasks.missing.length) {
        const m = tasks.missing.map((x) => `${x.task} (${x.files.join(', ')})`).join('; ');
        throw new CliError(`task files missing: ${m}. Pass --data DIR with the datasets (see ../shared/data/README.md), or leave those tasks out`, ExitCode.input);
      }
    }
    return { ep: session.ep, perplexity, ...(tasks ? { tasks } : {}) };
  } finally {
    progress.finish();
    try {
      await session.release();
    } finally {
      await cleanup();
    }
  }
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
    ppl: { type: 'string', value: 'LIST', description: `perplexity sets, comma-separated: ${PPL_DATASETS.join(', ')} or "none"`, defaultText: 'wikitext2,ptb' },
    tasks: { type: 'string', value: 'LIST', description: `zero-shot tasks, comma-separated: ${TASKS.join(', ')} or "none"`, defaultText: 'none' },
    'seq-len': { type: 'string', value: 'L', description: 'perplexity window length in tokens', defaultText: '128' },
    limit: { type: 'string', value: 'N', description: 'evaluate only the first N windows / task examples (quick checks)' },
    'task-limit': { type: 'string', value: 'N', description: 'evaluate only the first N examples of each task (perplexity sets stay whole unless --limit)', defaultText: '--limit' },
    'batch-size': { type: 'string', value: 'N', description: 'sequences per forward pass', defaultText: '4 windows, 8 task requests' },
    tokenizer: { type: 'string', value: 'PATH', description: 'tokenizer.json or its folder', defaultText: 'the model\'s folder' },
    data: { type: 'string', value: 'DIR', description: 'folder with the datasets', defaultText: '$LLM_BIP_DATA or ../shared/data' },
    ...epOption,
  },
  examples: [
    { command: 'llm-bip eval model.onnx', explain: 'WikiText-2 test and PTB validation perplexity at 128 tokens' },
    { command: 'llm-bip eval pruned/model.onnx --ppl wikitext2 --tasks boolq,piqa --limit 200 --json', explain: 'a quick check, as JSON' },
  ],
  async run(ctx) {
    const model = requirePositional(ctx, 0, 'MODEL', 'eval', 'give an ONNX file or an HF checkpoint folder');
    noExtraPositionals(ctx, 1, 'eval');
    const ppl = parseEvalList(listOption(ctx.values, 'ppl'), ['wikitext2', 'ptb'], '--ppl');
    const tasks = parseEvalList(listOption(ctx.values, 'tasks'), [], '--tasks');
    if (ppl.tasks.length) throw new CliError(`--ppl takes perplexity sets (${PPL_DATASETS.join(', ')}); put tasks in --tasks`, ExitCode.usage);
    if (tasks.ppl.length) throw new CliError(`--tasks takes zero-shot tasks (${TASKS.join(', ')}); put perplexity sets in --ppl`, ExitCode.usage);
    const limitRaw = stringOption(ctx.values, 'limit');
    const taskLimitRaw = stringOption(ctx.values, 'task-limit');
    const batchRaw = stringOption(ctx.values, 'batch-size');
    const req: EvalRequest = {
      ppl: ppl.ppl,
      tasks: tasks.tasks,
      seqLen: parseIntOption(stringOption(ctx.values, 'seq-len'), '--seq-len', 128, 2),
      ...(limitRaw !== undefined ? { limit: parseIntOption(limitRaw, '--limit', 1) } : {}),
      ...(taskLimitRaw !== undefined ? { taskLimit: parseIntOption(taskLimitRaw, '--task-limit', 1) } : {}),
      ...(batchRaw !== undefined ? { batchSize: parseIntOption(batchRaw, '--batch-size', 1) } : {}),
      dataDir: dataDir(stringOption(ctx.values, 'data')),
      ep: parseChoice(stringOption(ctx.values, 'ep'), '--ep', EXECUTION_PROVIDERS, 'auto'),
    };
    if (!req.ppl.length && !req.tasks.length) throw new CliError('nothing to evaluate: give --ppl and/or --tasks', ExitCode.usage);
    const tokenizerOpt = stringOption(ctx.values, 'tokenizer');
    const input = await resolveModelInput(model, ctx, { ...(tokenizerOpt ? { tokenizer: tokenizerOpt } : {}), kvCache: false });
    try {
      const run = await runEvaluation(ctx, input.onnxPath, input.tokenizer, req, '', await kvLayoutOfFile(input.onnxPath));
      const reportInput = { perplexity: run.perplexity, ...(run.tasks ? { tasks: run.tasks } : {}), config: { model, ep: run.ep, seqLen: req.seqLen, limit: req.limit ?? null, taskLimit: req.taskLimit ?? req.limit ?? null } };
      return { result: buildReport(reportInput), text: formatReport(reportInput) };
    } finally {
      input.dispose();
    }
  },
});
