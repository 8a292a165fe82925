import { DEFAULTS } from '@llm-bip/pipeline';
import { parseIntOption, requireExisting, stringOption } from '../args.js';
import type { CommandContext } from '../command.js';
import { UsageError } from '../errors.js';
import { parseMemoryBudget, type MemoryBudget } from '@llm-bip/scoring';

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

export interface ScoringMemoryArgs {
  maxDeviceMemory?: MemoryBudget;
  blocksPerSession?: number;
}

/** --max-device-memory SIZE|auto and --blocks-per-session N (absent: the pipeline's default budget). */
export function parseScoringMemory(ctx: CommandContext): ScoringMemoryArgs {
  const raw = stringOption(ctx.values, 'max-device-memory');
  const blocks = stringOption(ctx.values, 'blocks-per-session');
  let maxDeviceMemory: MemoryBudget | undefined;
  if (raw !== undefined) {
    try {
      maxDeviceMemory = parseMemoryBudget(raw);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  }
  return {
    ...(maxDeviceMemory !== undefined ? { maxDeviceMemory } : {}),
    ...(blocks !== undefined ? { blocksPerSession: parseIntOption(blocks, '--blocks-per-session', 1) } : {}),
  };
}
