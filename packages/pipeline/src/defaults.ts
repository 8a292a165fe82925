/**
 * Every default of the pipeline, in one place. The CLI's help text and the benchmarks read these;
 * no other file repeats a number or a name from here.
 */
import type { AllocationMode, GroupScores, MemoryBudget } from '@llm-bip/scoring';
import { ALLOCATIONS, AllocationError } from '@llm-bip/scoring';

export const DEFAULTS = {
  criterion: 'llm-bip',
  /** allocation when neither the caller nor the criterion (`GroupScores.defaultAllocation`) names one */
  allocation: 'global-kind' as AllocationMode,
  /** kept FFN channels per layer are a multiple of this (1: any width); BENCHMARKS.md "Aligned widths" */
  align: 1,
  /** prune-llm adds bias compensation unless told not to (BENCHMARKS.md: it improved every measured row) */
  compensate: true,
  ep: 'auto' as const,
  /**
   * Device memory scoring may use: 'auto' = the device's free memory when scoring starts (host
   * MemAvailable on the CPU EP, nvidia-smi on CUDA). The whole model runs in one session when it fits,
   * else block by block (scoring README, "Block by block"); unmeasurable (WebGPU): whole.
   */
  maxDeviceMemory: 'auto' as MemoryBudget,
  calibration: {
    samples: 128,
    seqLen: 128,
    seed: 0,
    /** the calibration text: this dataset, found by the data resolver (eval's resolveDataSet) */
    dataSet: 'c4' as const,
    fileText: 'C4 (the data set `c4`: --data, $LLM_BIP_DATA, the `llm-bip data fetch` cache, the development copy)',
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
