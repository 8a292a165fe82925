import { DEFAULTS } from '@llm-bip/pipeline';
import { parseIntOption, requireExisting, stringOption } from '../args.js';
import type { CommandContext } from '../command.js';

export interface CalibrationArgs {
  calib?: string;
  samples: number;
  seqLen: number;
  seed: number;
}

export function parseCalibration(ctx: CommandContext): CalibrationArgs {
  const calib = stringOption(ctx.values, 'calib');
  if (calib) requireExisting(calib, 'calibration file', 'file');
  const d = DEFAULTS.calibration;
  return {
    ...(calib ? { calib } : {}),
    samples: parseIntOption(stringOption(ctx.values, 'samples'), '--samples', d.samples),
    seqLen: parseIntOption(stringOption(ctx.values, 'seq-len'), '--seq-len', d.seqLen, 2),
    seed: parseIntOption(stringOption(ctx.values, 'seed'), '--seed', d.seed, 0),
  };
}
