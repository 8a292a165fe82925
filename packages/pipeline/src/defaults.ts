/**
 * Every default of the pipeline, in one place. The CLI's help text and the benchmarks read these;
 * no other file repeats a number or a name from here.
 */
import { join } from 'node:path';
import type { AllocationMode, GroupScores } from '@llm-bip/scoring';
import { ALLOCATIONS, AllocationError } from '@llm-bip/scoring';
import { DEFAULT_ALPHAS } from '@llm-bip/surgery';

export const DEFAULTS = {
  criterion: 'llm-bip',
  /** allocation when neither the caller nor the criterion (`GroupScores.defaultAllocation`) names one */
  allocation: 'global-kind' as AllocationMode,
  /** prune-llm adds bias compensation unless told not to (BENCHMARKS.md: it improved every measured row) */
  compensate: true,
  /** least-squares reconstruction of o_proj / down_proj instead of mean compensation (BENCHMARKS.md "Reconstruction") */
  reconstruct: false,
  reconstruction: {
    /** 'auto': the ridge alpha with the smallest held-out error among `alphas`; or a fixed alpha */
    lambda: 'auto' as 'auto' | number,
    /** ridge candidates, relative to mean(diag Σ_SS) of the kept inputs; Infinity = mean compensation */
    alphas: DEFAULT_ALPHAS,
    /** fraction of the calibration rows held out to choose the ridge (the last ones) */
    holdout: 0.125,
    /** float64 moments held at once; layers are collected a few per probe pass to stay under it */
    memoryBytes: 4 * 1024 ** 3,
  },
  ep: 'auto' as const,
  calibration: {
    samples: 128,
    seqLen: 128,
    seed: 0,
    /** the C4 sample inside the data folder */
    file: (dataDir: string): string => join(dataDir, 'c4', 'c4_sample.jsonl'),
    fileText: 'the C4 sample in the data folder',
  },
  eval: {
    ppl: ['wikitext2', 'ptb'] as string[],
    seqLen: 128,
  },
  bench: {
    prompt: 128,
    decode: 32,
    batch: 1,
    repeats: 5,
  },
} as const;

/** The allocation a plan uses: the one asked for, else the criterion's own (flap: al-am), else DEFAULTS.allocation. */
export function allocationFor(scores: Pick<GroupScores, 'defaultAllocation'>, requested?: AllocationMode): AllocationMode {
  const allocation = requested ?? (scores.defaultAllocation as AllocationMode | undefined) ?? DEFAULTS.allocation;
  if (!ALLOCATIONS.includes(allocation)) throw new AllocationError(`unknown allocation "${allocation}": choose one of ${ALLOCATIONS.join(', ')}`);
  return allocation;
}
