import { basename, dirname } from 'node:path';
import { saveScores } from '@llm-bip/scoring';
import { planModelShape } from '@llm-bip/model';
import { noExtraPositionals, parseChoice, requirePositional, stringOption } from '../../args.js';
import { defineCommand } from '../../command.js';
import { UsageError } from '../../errors.js';
import { OutputSet } from '../../output.js';
import { assertOutputsDoNotReplaceInputs } from '../../output-identity.js';
import { parseCalibration, parseCriterion } from '../calibration-args.js';
import { loadWithSpec } from '../load-spec.js';
import { dataDir, resolveModelInput } from '../model-input.js';
import { calibrate, calibrationRecord, fingerprintOf, scoreModel } from '../pipeline.js';
import { CRITERIA, EXECUTION_PROVIDERS, calibrationOptions, dataOption, epOption, outputOption, tokenizerOption } from '../shared-options.js';

export const scoreCommand = defineCommand({
  name: 'score',
  summary: 'run calibration and write importance scores for every head and FFN channel',
  usage: 'MODEL -o SCORES.json [options]',
  description: 'SCORES.json holds the statistics, the scores and the model shape: `llm-bip plan` turns it into plans for any ratio without recalibrating.',
  options: {
    criterion: { type: 'string', value: 'NAME', description: `importance criterion: ${CRITERIA.join(' | ')}`, defaultText: 'llm-bip' },
    'head-term': {
      type: 'string',
      value: 'T',
      description: 'llm-bip ablations: lipschitz (the bound, mean_t (1+L_t)||W_o z||) | direct (without the Lipschitz factor) | none (FFN term only: heads are kept)',
      defaultText: 'lipschitz',
    },
    ...calibrationOptions,
    ...tokenizerOption,
    ...dataOption,
    ...epOption,
    ...outputOption('scores JSON to write'),
  },
  examples: [
    { command: 'llm-bip score model.onnx -o scores.json', explain: 'LLM-BIP scores from 128 x 128 tokens of the C4 sample' },
    { command: 'llm-bip score model.onnx --criterion wanda-sp --calib wiki.train.txt --samples 64 -o wanda.json', explain: 'a baseline criterion on your own calibration text' },
    { command: 'llm-bip score model.onnx --head-term direct -o no-lipschitz.json', explain: 'the ablation without the Lipschitz factor on head scores' },
  ],
  async run(ctx) {
    const model = requirePositional(ctx, 0, 'MODEL', 'score', 'give an ONNX file or an HF checkpoint folder');
    noExtraPositionals(ctx, 1, 'score');
    const criterion = parseCriterion(ctx);
    const headTermText = stringOption(ctx.values, 'head-term');
    if (headTermText !== undefined && criterion !== 'llm-bip') throw new UsageError('--head-term only applies to --criterion llm-bip');
    const headTerm = parseChoice(headTermText, '--head-term', ['lipschitz', 'direct', 'none'] as const, 'lipschitz');
    const criterionOptions = criterion === 'llm-bip' ? { headTerm } : undefined;
    const ep = parseChoice(stringOption(ctx.values, 'ep'), '--ep', EXECUTION_PROVIDERS, 'auto');
    const calibReq = parseCalibration(ctx);
    const output = stringOption(ctx.values, 'output');
    if (!output) throw new UsageError('missing -o SCORES.json: say where to write the scores');
    const tokenizer = stringOption(ctx.values, 'tokenizer');
    assertOutputsDoNotReplaceInputs({ inputs: [model, tokenizer], outputFile: output });
    const input = await resolveModelInput(model, ctx, { ...(tokenizer ? { tokenizer } : {}), kvCache: true });
    try {
      const { loaded, spec } = await loadWithSpec(input.onnxPath);
      const out = await OutputSet.open(dirname(output), ctx.cleanup, { lock: false }); // before the compute: an unwritable -o fails at once
      const calibration = await calibrate(ctx, input.tokenizer, { ...calibReq, dataDir: dataDir(stringOption(ctx.values, 'data')) }, { spec, path: model });
      const { stats, scores } = await scoreModel(ctx, { loaded, spec, onnxPath: input.onnxPath }, criterion, calibration, ep, criterionOptions);
      await saveScores({ model: planModelShape(spec, await fingerprintOf(loaded)), calibration: calibrationRecord(calibration), statistics: stats, scores }, out.path(basename(output)));
      await out.commit();
      return {
        result: { output, criterion: scores.criterion, headGranularity: scores.headGranularity, layers: scores.layers.length, calibration: calibrationRecord(calibration), executionProvider: stats.executionProvider ?? null },
        text: `wrote ${output}: ${scores.criterion} scores for ${scores.layers.length} layers (${scores.headGranularity === 'kv-group' ? 'KV groups' : 'heads'} and FFN channels) from ${calibration.samples} x ${calibration.seqLen} tokens of ${calibration.source}`,
      };
    } finally {
      input.dispose();
    }
  },
});
