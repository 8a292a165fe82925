import { planCuts, validatePlan, type PlanCuts, type PruningPlan } from '@llm-bip/model';
import { loadScores, type AllocationMode } from '@llm-bip/scoring';
import { DEFAULTS, planFromScoresFile } from '@llm-bip/pipeline';
import { booleanOption, parseAlignOption, parseChoice, parseIntOption, parseRatio, requireExisting, soleArgument, stringOption } from '../../args.js';
import { defineCommand } from '../../command.js';
import { UsageError } from '../../errors.js';
import { writeFileAtomic } from '../../output.js';
import { assertOutputsDoNotReplaceInputs } from '../../output-identity.js';
import { loadModelInput } from '@llm-bip/pipeline';
import { ALLOCATIONS, outputOption, pruneOptions } from '../shared-options.js';

export const planCommand = defineCommand({
  name: 'plan',
  summary: 'turn scores into a pruning plan (which heads and channels to keep per layer)',
  usage: 'SCORES.json --ratio R -o PLAN.json [options]',
  description:
    'The plan is plain JSON: print it, edit it, replay it with `llm-bip prune`. --explain prints exactly what it cuts: per layer the heads / KV groups and channels removed, every weight sliced (axis, indices removed) and the parameters removed. Tensor names are those `llm-bip export` writes unless --model names the model to read them from (fused or transposed exports, biases).',
  options: {
    ratio: pruneOptions.ratio!,
    allocation: pruneOptions.allocation!,
    align: pruneOptions.align!,
    ...outputOption('plan JSON to write (optional with --explain)'),
    explain: { type: 'boolean', description: 'print what the plan cuts, per layer and tensor (--json: under "explanation")' },
    model: { type: 'string', value: 'MODEL', description: "with --explain: the model's own initializer names and slices", defaultText: 'the names `llm-bip export` writes' },
  },
  examples: [
    { command: 'llm-bip plan scores.json --ratio 0.2 -o plan.json', explain: 'remove 20 % with the criterion\'s default allocation' },
    { command: 'llm-bip plan scores.json --ratio 0.5 --allocation uniform -o plan50.json', explain: 'the same fraction in every layer' },
    { command: 'llm-bip plan scores.json --ratio 0.5 --align 64 -o plan50.json', explain: 'every layer keeps a multiple of 64 FFN channels' },
    { command: 'llm-bip plan scores.json --ratio 0.2 --explain --model model.onnx', explain: 'print which heads, channels and weight slices go (writes no plan without -o)' },
  ],
  async run(ctx) {
    const scoresPath = soleArgument(ctx, 'SCORES.json', 'plan', 'give the scores file written by `llm-bip score`');
    const ratio = parseRatio(stringOption(ctx.values, 'ratio'));
    const allocationRaw = stringOption(ctx.values, 'allocation');
    const requestedAlign = parseAlignOption(stringOption(ctx.values, 'align'), DEFAULTS.align);
    const output = stringOption(ctx.values, 'output');
    const explain = booleanOption(ctx.values, 'explain');
    const modelPath = stringOption(ctx.values, 'model');
    if (!output && !explain) throw new UsageError('missing -o PLAN.json: say where to write the plan');
    if (modelPath && !explain) throw new UsageError('--model is for --explain (the tensor names to print); a plan needs the scores file only');
    requireExisting(scoresPath, 'scores file', 'file');
    if (modelPath) requireExisting(modelPath, 'model', 'file');
    assertOutputsDoNotReplaceInputs({ inputs: [scoresPath, modelPath], outputFile: output });
    const file = await loadScores(scoresPath);
    const requested: AllocationMode | undefined = allocationRaw ? parseChoice(allocationRaw, '--allocation', ALLOCATIONS, DEFAULTS.allocation) : undefined;
    const plan = planFromScoresFile(file, { ratio, align: requestedAlign, ...(requested ? { allocation: requested } : {}), notes: { scores: scoresPath } });
    const allocation = plan.allocation;
    // the alignment the plan used ('auto' resolved from the model's FFN widths)
    const align = Number(plan.notes?.align ?? 1);
    let explanation: PlanCuts | undefined;
    if (explain) {
      // the model's own names when given (checked against the plan first), else our exporter's
      const spec = modelPath ? (await loadModelInput(modelPath)).spec : undefined;
      if (spec) validatePlan(plan, spec);
      explanation = planCuts(plan, spec);
    }
    if (output) await writeFileAtomic(output, `${JSON.stringify(plan, null, 2)}\n`, { cleanup: ctx.cleanup, signal: ctx.signal });
    const kept = plan.layers.map((l) => `${l.keepHeads.length}/${file.model.numHeads[l.layer]}h ${l.keepChannels.length}/${file.model.intermediateSize[l.layer]}c`);
    const achieved = Number(plan.notes?.achievedRatio ?? Number.NaN);
    const summary = `${plan.criterion}, ${allocation}${align > 1 ? `, widths aligned to ${align}` : ''}, target ${(ratio * 100).toFixed(1)} %, removes ${(achieved * 100).toFixed(1)} % of attention+MLP parameters\nkept per layer: ${kept.join(', ')}`;
    return {
      result: {
        output,
        criterion: plan.criterion,
        ratio,
        allocation,
        align,
        achievedRatio: achieved,
        layers: plan.layers.map((l) => ({ layer: l.layer, heads: l.keepHeads.length, kvHeads: l.keepKvHeads.length, channels: l.keepChannels.length })),
        ...(explanation ? { explanation } : {}),
      },
      text: `${output ? `wrote ${output}` : 'plan (not written: no -o)'}: ${summary}${explanation ? `\n${explainText(plan, explanation, modelPath)}` : ''}`,
    };
  },
});

/** The --explain text: one block per layer that loses anything, then the total. */
export function explainText(plan: PruningPlan, cuts: PlanCuts, modelPath?: string): string {
  const n = (x: number) => x.toLocaleString('en-US');
  const lines = [`what the plan cuts (tensor names ${modelPath ? `of ${modelPath}` : 'as `llm-bip export` writes them; --model MODEL for a model\'s own'}):`];
  for (const c of cuts.layers) {
    if (c.parameters.removed === 0) {
      lines.push(`layer ${c.layer}: nothing`);
      continue;
    }
    const m = plan.model;
    const kv = m.numKvHeads[c.layer] !== m.numHeads[c.layer] ? ` (KV groups [${c.removedKvHeads.join(', ')}] of ${m.numKvHeads[c.layer]})` : '';
    const heads = c.attentionRemoved ? 'attention removed' : `heads [${c.removedHeads.join(', ')}] of ${m.numHeads[c.layer]}${kv}`;
    const channels = c.ffnRemoved ? 'MLP removed' : `${c.removedChannels.length} of ${m.intermediateSize[c.layer]} channels`;
    lines.push(`layer ${c.layer}: ${c.removedHeads.length ? heads : 'no heads'}; ${c.removedChannels.length ? channels : 'no channels'}; ${n(c.parameters.removed)} of ${n(c.parameters.of)} parameters`);
    for (const t of c.tensors) lines.push(`  ${t.tensor}  axis ${t.axis}: ${t.removed} of ${t.of} indices`);
  }
  const p = cuts.parameters;
  lines.push(`total: ${n(p.removed)} of ${n(p.of)} attention+MLP parameters removed (${(p.fraction * 100).toFixed(2)} %)`);
  return lines.join('\n');
}
