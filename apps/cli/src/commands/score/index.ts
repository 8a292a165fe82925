import { noExtraPositionals, parseChoice, parseIntOption, requireExisting, requirePositional, stringOption } from '../../args.js';
import { defineCommand } from '../../command.js';
import { UsageError } from '../../errors.js';
import { notAvailable } from '../../not-available.js';
import { CRITERIA, EXECUTION_PROVIDERS, calibrationOptions, epOption, outputOption } from '../shared-options.js';

export const scoreCommand = defineCommand({
  name: 'score',
  summary: 'run calibration and write importance scores for every head and FFN channel',
  usage: 'MODEL -o SCORES.json [options]',
  options: {
    criterion: { type: 'string', value: 'NAME', description: `importance criterion: ${CRITERIA.join(' | ')}`, defaultText: 'llm-bip' },
    ...calibrationOptions,
    ...epOption,
    ...outputOption('scores JSON to write'),
  },
  examples: [
    { command: 'llm-bip score model.onnx -o scores.json', explain: 'LLM-BIP scores from 128 x 128 tokens of the bundled C4 sample' },
    { command: 'llm-bip score model.onnx --criterion wanda-sp --calib wiki.train.txt --samples 64 -o wanda.json', explain: 'a baseline criterion on your own calibration text' },
  ],
  async run(ctx) {
    const model = requirePositional(ctx, 0, 'MODEL', 'score', 'give an ONNX file or an HF checkpoint folder');
    noExtraPositionals(ctx, 1, 'score');
    parseChoice(stringOption(ctx.values, 'criterion'), '--criterion', CRITERIA, 'llm-bip');
    parseChoice(stringOption(ctx.values, 'ep'), '--ep', EXECUTION_PROVIDERS, 'auto');
    parseIntOption(stringOption(ctx.values, 'samples'), '--samples', 128);
    parseIntOption(stringOption(ctx.values, 'seq-len'), '--seq-len', 128, 2);
    parseIntOption(stringOption(ctx.values, 'seed'), '--seed', 0, 0);
    if (!stringOption(ctx.values, 'output')) throw new UsageError('missing -o SCORES.json: say where to write the scores');
    requireExisting(model, 'model');
    const calib = stringOption(ctx.values, 'calib');
    if (calib) requireExisting(calib, 'calibration file', 'file');
    return notAvailable('score', 'the scoring package (criteria + statistics collection)');
  },
});
