import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULTS } from '@llm-bip/pipeline';
import { noExtraPositionals, parseIntOption, parseRatio, stringOption } from '../../args.js';
import { defineCommand, type CommandContext } from '../../command.js';
import { CliError, ExitCode } from '../../errors.js';
import { dataDir } from '../model-input.js';
import type { DataLocation } from '@llm-bip/eval';
import { runPipeline, summaryText, type PipelineRequest } from '../prune-llm/index.js';
import { EXECUTION_PROVIDERS } from '../shared-options.js';
import { parseChoice } from '../../args.js';

/** apps/cli/ (this file is apps/cli/{src,dist}/commands/demo/index.*) */
const appDir = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/**
 * The demo model: --model, else $LLM_BIP_DEMO_MODEL, else the copy embedded in the repository
 * (apps/cli/demo/bip-llama-tiny), else the test-bed model beside the checkout. Data likewise
 * (apps/cli/demo/data, else the shared data folder).
 */
export function demoInputs(env: NodeJS.ProcessEnv, model?: string, data?: string): { model: string; data: DataLocation } {
  const modelCandidates = [model, env.LLM_BIP_DEMO_MODEL, join(appDir, 'demo', 'bip-llama-tiny'), resolve(appDir, '../../../shared/testbed/bip-llama-tiny')].filter((p): p is string => !!p);
  const found = modelCandidates.find((p) => existsSync(join(p, 'config.json')) || p.endsWith('.onnx'));
  if (!found) {
    throw new CliError(`no demo model found (looked in ${modelCandidates.join(', ')}): pass one with --model CHECKPOINT_DIR`, ExitCode.input);
  }
  const embeddedData = join(appDir, 'demo', 'data');
  return { model: found, data: data ?? (existsSync(embeddedData) && !env.LLM_BIP_DATA ? embeddedData : dataDir(undefined, env)) };
}

/** WikiText-2 windows the demo evaluates unless --limit says otherwise. */
const DEMO_LIMIT = 200;

/** The demo's pipeline request from its options (checked before any work). */
export function demoRequest(ctx: Pick<CommandContext, 'values' | 'positionals' | 'env'>): PipelineRequest {
  noExtraPositionals(ctx, 0, 'demo');
  const ratioRaw = stringOption(ctx.values, 'ratio');
  const ratio = ratioRaw === undefined ? 0.2 : parseRatio(ratioRaw);
  const ep = parseChoice(stringOption(ctx.values, 'ep'), '--ep', EXECUTION_PROVIDERS, 'cpu');
  const limit = parseIntOption(stringOption(ctx.values, 'limit'), '--limit', DEMO_LIMIT);
  const inputs = demoInputs(ctx.env, stringOption(ctx.values, 'model'), stringOption(ctx.values, 'data'));
  const output = stringOption(ctx.values, 'output') ?? join(mkdtempSync(join(tmpdir(), 'llm-bip-demo-')), 'out');
  return {
    model: inputs.model,
    output,
    ratio,
    criterion: 'llm-bip',
    allocation: 'global-kind',
    align: DEFAULTS.align,
    compensate: true,
    calibration: { samples: 64, seqLen: 128, seed: 0 },
    eval: { ppl: ['wikitext2'], tasks: [], seqLen: 128, limit, dataDir: inputs.data, ep },
    bench: { prompt: 128, decode: 32, batch: 1, repeats: 3, ep },
    ep,
  };
}

export const demoCommand = defineCommand({
  name: 'demo',
  summary: 'prune the embedded demo model by 20 % and print dense vs pruned parameters, perplexity and speed',
  usage: '[options]',
  description:
    `Runs on CPU in a few minutes with no arguments: prune-llm on the small trained model shipped with the package (LLM-BIP scores from 64 x 128 tokens of C4, global-kind allocation, bias compensation), WikiText-2 perplexity on the first ${DEMO_LIMIT} windows of 128 tokens (--limit), prefill and decode speed.`,
  options: {
    output: { type: 'string', short: 'o', value: 'DIR', description: 'folder for the pruned model, plan, results.json and report.html', defaultText: 'a new temp folder' },
    ratio: { type: 'string', value: 'R', description: 'fraction of attention+MLP parameters to remove, in (0, 1)', defaultText: '0.2' },
    model: { type: 'string', value: 'DIR', description: 'another HF checkpoint folder or ONNX file to run the demo on' },
    data: { type: 'string', value: 'DIR', description: 'datasets folder', defaultText: 'the embedded sample, else $LLM_BIP_DATA or ../shared/data' },
    ep: { type: 'string', value: 'EP', description: `execution provider: ${EXECUTION_PROVIDERS.join(' | ')}`, defaultText: 'cpu' },
    limit: { type: 'string', value: 'N', description: 'perplexity on the first N windows of 128 tokens (a quick check: --limit 20)', defaultText: String(DEMO_LIMIT) },
  },
  examples: [
    { command: 'llm-bip demo', explain: 'the whole pipeline on the embedded model, output in a temp folder' },
    { command: 'llm-bip demo -o demo-out/ --ratio 0.5', explain: 'keep the outputs in demo-out/, prune half' },
    { command: 'llm-bip demo --limit 20', explain: 'a quick check that an installation works' },
  ],
  async run(ctx) {
    const req = demoRequest(ctx);
    ctx.log(`demo: pruning ${req.model} by ${(req.ratio * 100).toFixed(0)} % -> ${req.output}`);
    const { data, outDir } = await runPipeline(ctx, req);
    return { result: data, text: `${summaryText(data, outDir)}\nopen ${join(outDir, 'report.html')} for the plots` };
  },
});
