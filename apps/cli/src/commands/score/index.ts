import { basename, dirname } from 'node:path';
import { formatBytes, saveScores } from '@llm-bip/scoring';
import { calibrate, calibrationRecord, scoreModel, scoresFile } from '@llm-bip/pipeline';
import { parseChoice, soleArgument, stringOption } from '../../args.js';
import { defineCommand, type OptionSpec } from '../../command.js';
import { UsageError } from '../../errors.js';
import { OutputSet } from '../../output.js';
import { assertOutputsDoNotReplaceInputs } from '../../output-identity.js';
import { parseCalibration, parseScoringMemory } from '../calibration-args.js';
import { criterionFlags, criterionOption, loadPlugins, parseCriterion, parseCriterionOptions, pluginOption } from '../criterion-options.js';
import { dataDir, resolveModelInput } from '../model-input.js';
import { hooksFor, loadInput, tokenizerFor } from '../pipeline.js';
import { EXECUTION_PROVIDERS, calibrationOptions, dataOption, epOption, outputOption, scoringMemoryOptions, tokenizerOption } from '../shared-options.js';

const fixedOptions: Record<string, OptionSpec> = {
  ...calibrationOptions,
  ...tokenizerOption,
  ...dataOption,
  ...epOption,
  ...scoringMemoryOptions,
  ...outputOption('scores JSON to write'),
  ...pluginOption,
};

/** ", measured X" when the segments were measured (CUDA), else nothing. */
function measuredPeak(segments: ReadonlyArray<{ measuredBytes?: number }>): string {
  const m = segments.flatMap((s) => (s.measuredBytes !== undefined ? [s.measuredBytes] : []));
  return m.length ? `, measured ${formatBytes(Math.max(...m))}` : '';
}

export const scoreCommand = defineCommand({
  name: 'score',
  summary: 'run calibration and write importance scores for every head and FFN channel',
  usage: 'MODEL -o SCORES.json [options]',
  description: 'SCORES.json holds the statistics, the scores and the model shape: `llm-bip plan` turns it into plans for any ratio without recalibrating.',
  // read after `prepare`: the registry (with --plugin criteria) decides the choices and the criterion flags
  get options() {
    return { ...criterionOption(), ...criterionFlags(fixedOptions), ...fixedOptions };
  },
  examples: [
    { command: 'llm-bip score model.onnx -o scores.json', explain: 'LLM-BIP scores from 128 x 128 tokens of the C4 sample' },
    { command: 'llm-bip score model.onnx --criterion wanda-sp --calib wiki.train.txt --samples 64 -o wanda.json', explain: 'a baseline criterion on your own calibration text' },
    { command: 'llm-bip score model.onnx --head-term direct -o no-lipschitz.json', explain: 'the ablation without the Lipschitz factor on head scores' },
    { command: 'llm-bip score model.onnx --plugin ./my-criterion.mjs --criterion mine -o mine.json', explain: 'a criterion of your own, from a module file' },
    { command: 'llm-bip score llama-70b/model.onnx --ep cuda --max-device-memory 40GB -o scores.json', explain: 'a model larger than the GPU: the probe runs block by block, as many blocks per session as fit 40 GB' },
  ],
  prepare: loadPlugins,
  async run(ctx) {
    const model = soleArgument(ctx, 'MODEL', 'score', 'give an ONNX file or an HF checkpoint folder');
    const criterion = parseCriterion(ctx);
    const options = parseCriterionOptions(ctx, criterion, fixedOptions);
    const ep = parseChoice(stringOption(ctx.values, 'ep'), '--ep', EXECUTION_PROVIDERS, 'auto');
    const calibReq = parseCalibration(ctx);
    const memory = parseScoringMemory(ctx);
    const output = stringOption(ctx.values, 'output');
    if (!output) throw new UsageError('missing -o SCORES.json: say where to write the scores');
    const tokenizer = stringOption(ctx.values, 'tokenizer');
    assertOutputsDoNotReplaceInputs({ inputs: [model, tokenizer], outputFile: output });
    const input = await resolveModelInput(model, ctx, { ...(tokenizer ? { tokenizer } : {}), kvCache: true });
    try {
      const m = await loadInput(input.onnxPath);
      const out = await OutputSet.open(dirname(output), ctx.cleanup, { lock: false }); // before the compute: an unwritable -o fails at once
      const calibration = await calibrate(tokenizerFor(input.tokenizer, m.spec.vocabSize, model), { ...calibReq, dataDir: dataDir(stringOption(ctx.values, 'data')) });
      const scored = await scoreModel(m, { criterion, ...(options ? { options } : {}), calibration, ep, ...memory }, hooksFor(ctx));
      const { statistics: stats, scores } = scored;
      await saveScores(scoresFile(m.spec, await m.fingerprint(), scored, calibration), out.path(basename(output)));
      await out.commit();
      return {
        result: {
          output,
          criterion: scores.criterion,
          headGranularity: scores.headGranularity,
          layers: scores.layers.length,
          calibration: calibrationRecord(calibration),
          executionProvider: stats.executionProvider ?? null,
          scoring: scored.execution ?? null,
        },
        text:
          `wrote ${output}: ${scores.criterion} scores for ${scores.layers.length} layers (${scores.headGranularity === 'kv-group' ? 'KV groups' : 'heads'} and FFN channels) from ${calibration.samples} x ${calibration.seqLen} tokens of ${calibration.source}` +
          (scored.execution?.mode === 'blockwise'
            ? `\nscored block by block: ${scored.execution.segments!.length} segments, ${scored.execution.batchSize} rows per run, estimated device peak ${formatBytes(scored.execution.estimatedPeakBytes!)} on the ${scored.execution.ep} EP${measuredPeak(scored.execution.segments!)}, host peak RSS ${formatBytes(scored.execution.hostPeakRssBytes)}`
            : ''),
      };
    } finally {
      input.dispose();
    }
  },
});
