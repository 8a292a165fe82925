import { parseChoice, parseIntOption, requireExisting, stringOption } from '../args.js';
import type { CommandContext } from '../command.js';
import { CRITERIA } from './shared-options.js';
import type { CalibrationRequest } from './pipeline.js';

export function parseCalibration(ctx: CommandContext): CalibrationRequest {
  const calib = stringOption(ctx.values, 'calib');
  if (calib) requireExisting(calib, 'calibration file', 'file');
  return {
    ...(calib ? { calib } : {}),
    samples: parseIntOption(stringOption(ctx.values, 'samples'), '--samples', 128),
    seqLen: parseIntOption(stringOption(ctx.values, 'seq-len'), '--seq-len', 128, 2),
    seed: parseIntOption(stringOption(ctx.values, 'seed'), '--seed', 0, 0),
  };
}

export function parseCriterion(ctx: CommandContext): (typeof CRITERIA)[number] {
  return parseChoice(stringOption(ctx.values, 'criterion'), '--criterion', CRITERIA, 'llm-bip');
}
