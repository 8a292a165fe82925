import { loadScores, makePlan, type AllocationMode } from '@llm-bip/scoring';
import { noExtraPositionals, parseChoice, parseRatio, requireExisting, requirePositional, stringOption } from '../../args.js';
import { defineCommand } from '../../command.js';
import { UsageError } from '../../errors.js';
import { writeFileAtomic } from '../../output.js';
import { assertOutputsDoNotReplaceInputs } from '../../output-identity.js';
import { ALLOCATIONS, outputOption, pruneOptions } from '../shared-options.js';

export const planCommand = defineCommand({
  name: 'plan',
  summary: 'turn scores into a pruning plan (which heads and channels to keep per layer)',
  usage: 'SCORES.json --ratio R -o PLAN.json [options]',
  description: 'The plan is plain JSON: print it, edit it, replay it with `llm-bip prune`.',
  options: {
    ratio: pruneOptions.ratio!,
    allocation: pruneOptions.allocation!,
    ...outputOption('plan JSON to write'),
  },
  examples: [
    { command: 'llm-bip plan scores.json --ratio 0.2 -o plan.json', explain: 'remove 20 % with the criterion\'s default allocation' },
    { command: 'llm-bip plan scores.json --ratio 0.5 --allocation uniform -o plan50.json', explain: 'the same fraction in every layer' },
  ],
  async run(ctx) {
    const scoresPath = requirePositional(ctx, 0, 'SCORES.json', 'plan', 'give the scores file written by `llm-bip score`');
    noExtraPositionals(ctx, 1, 'plan');
    const ratio = parseRatio(stringOption(ctx.values, 'ratio'));
    const allocationRaw = stringOption(ctx.values, 'allocation');
    const output = stringOption(ctx.values, 'output');
    if (!output) throw new UsageError('missing -o PLAN.json: say where to write the plan');
    requireExisting(scoresPath, 'scores file', 'file');
    assertOutputsDoNotReplaceInputs({ inputs: [scoresPath], outputFile: output });
    const file = await loadScores(scoresPath);
    const allocation: AllocationMode = allocationRaw
      ? parseChoice(allocationRaw, '--allocation', ALLOCATIONS, 'global-kind')
      : ((file.scores.defaultAllocation as AllocationMode | undefined) ?? 'global-kind');
    const plan = makePlan(file.scores, file.model, {
      ratio,
      allocation,
      ...(file.calibration ? { calibration: file.calibration, seed: file.calibration.seed } : {}),
      notes: { tool: 'llm-bip', scores: scoresPath },
    });
    await writeFileAtomic(output, `${JSON.stringify(plan, null, 2)}\n`, { cleanup: ctx.cleanup, signal: ctx.signal });
    const kept = plan.layers.map((l) => `${l.keepHeads.length}/${file.model.numHeads[l.layer]}h ${l.keepChannels.length}/${file.model.intermediateSize[l.layer]}c`);
    const achieved = Number(plan.notes?.achievedRatio ?? Number.NaN);
    return {
      result: { output, criterion: plan.criterion, ratio, allocation, achievedRatio: achieved, layers: plan.layers.map((l) => ({ layer: l.layer, heads: l.keepHeads.length, kvHeads: l.keepKvHeads.length, channels: l.keepChannels.length })) },
      text: `wrote ${output}: ${plan.criterion}, ${allocation}, target ${(ratio * 100).toFixed(1)} %, removes ${(achieved * 100).toFixed(1)} % of attention+MLP parameters\nkept per layer: ${kept.join(', ')}`,
    };
  },
});
