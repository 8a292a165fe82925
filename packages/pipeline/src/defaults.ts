/**
 * Every default of the pipeline, in one place. The CLI's help text and the benchmarks read these;
 * no other file repeats a number or a name from here.
 */
import { freemem } from 'node:os';
import type { AllocationMode, GroupScores, MemoryBudget } from '@llm-bip/scoring';
import { ALLOCATIONS, AllocationError } from '@llm-bip/scoring';
import { DEFAULT_ALPHAS, DEFAULT_RIDGE_SEARCH } from '@llm-bip/surgery';

export const DEFAULTS = {
  criterion: 'llm-bip',
  /** allocation when neither the caller nor the criterion (`GroupScores.defaultAllocation`) names one */
  allocation: 'global-kind' as AllocationMode,
  /**
   * kept FFN channels per layer are a multiple of this (1: any width), or 'auto' (resolveAlign: 64 when
   * every FFN is at least 1,024 wide); BENCHMARKS.md "Aligned FFN widths" and "Issue 13 follow-up on the H200"
   */
  align: 'auto' as Align,
  /** prune-llm adds bias compensation unless told not to (BENCHMARKS.md: it improved every measured row) */
  compensate: true,
  /** least-squares reconstruction of o_proj / down_proj instead of mean compensation (BENCHMARKS.md "Reconstruction and sequential pruning") */
  reconstruct: false,
  /** sequential pruning: each block chosen (and fit) on the pruned blocks' outputs (BENCHMARKS.md "Reconstruction and sequential pruning") */
  sequential: false,
  /** prune-llm reaches its ratio in this many rounds, each scoring and pruning the previous round's model (prune-llm.ts `steps`) */
  steps: 1,
  reconstruction: {
    /** 'auto': the ridge alpha with the smallest held-out error among `alphas`; or a fixed alpha */
    lambda: 'auto' as 'auto' | number,
    /** ridge candidates, relative to mean(diag Σ_SS) of the kept inputs; Infinity = mean compensation */
    alphas: DEFAULT_ALPHAS,
    /** which candidates 'auto' evaluates: 'walk' (toward the smaller held-out error, stopping at the first rise) or 'grid' (all) */
    search: DEFAULT_RIDGE_SEARCH,
    /** fraction of the calibration rows held out to choose the ridge (the last ones) */
    holdout: 0.125,
    /** ridge of the greedy choice of kept groups by reconstruction loss (select: 'reconstruction'), relative as `alphas` */
    selectAlpha: 1e-2,
    /** float64 moments held at once; layers are collected a few per probe pass to stay under it */
    memoryBytes: 4 * 1024 ** 3,
  },
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
    /** perplexity windows per forward pass when the model's vocabulary is unknown (else sized by evalMemoryBudget) */
    windowBatch: 4,
  },
  bench: {
    prompt: 128,
    decode: 32,
    batch: 1,
    repeats: 5,
  },
} as const;

/** An FFN width alignment: a whole number >= 1, or 'auto' (resolveAlign). */
export type Align = number | 'auto';

/**
 * 'auto': the multiple GPU GEMM kernels tile by (64) when every layer's FFN is at least 16 tiles wide, else
 * none. On the H200 (CUDA, fp16, 7B width) a 20 % plan evaluated 0.71x as fast as dense with its widths as
 * planned and 1.14x aligned to 64, decode 1.16x -> 1.42x; on bip-llama-small (FFN 1,408) alignment cost at
 * most 1 % perplexity. Narrower FFNs (the tiny test models, the demo's 704) would move too large a share of
 * their channels for kernels that gain nothing at that size.
 */
export const AUTO_ALIGN = { multiple: 64, minWidth: 1024 } as const;

/** An alignment as written (`auto`, or a whole number >= 1); undefined when it is neither. */
export function parseAlign(raw: string): Align | undefined {
  const s = raw.trim();
  if (s.toLowerCase() === 'auto') return 'auto';
  const v = Number(s);
  return s !== '' && Number.isInteger(v) && v >= 1 ? v : undefined;
}

/** The alignment a plan uses for a model: the number asked for, or 'auto' resolved (AUTO_ALIGN). */
export function resolveAlign(align: Align, model: { intermediateSize: readonly number[] }): number {
  if (align !== 'auto') return align;
  const widths = model.intermediateSize.filter((w) => w > 0);
  return widths.length > 0 && Math.min(...widths) >= AUTO_ALIGN.minWidth ? AUTO_ALIGN.multiple : 1;
}

/** The allocation a plan uses: the one asked for, else the criterion's own (flap: al-am), else DEFAULTS.allocation. */
export function allocationFor(scores: Pick<GroupScores, 'defaultAllocation'>, requested?: AllocationMode): AllocationMode {
  const allocation = requested ?? (scores.defaultAllocation as AllocationMode | undefined) ?? DEFAULTS.allocation;
  if (!ALLOCATIONS.includes(allocation)) throw new AllocationError(`unknown allocation "${allocation}": choose one of ${ALLOCATIONS.join(', ')}`);
  return allocation;
}

/**
 * Memory perplexity windows of one forward pass may take: on the CPU a quarter of the memory free
 * when evaluation starts, at most 4 GiB (beyond that batches no longer speed the CPU EP up); on
 * a GPU EP, whose free device memory ORT does not report, 4 GiB.
 */
export function evalMemoryBudget(ep: string, freeBytes = freemem()): number {
  const cap = 4 * 1024 ** 3;
  return ep === 'cpu' ? Math.min(cap, freeBytes / 4) : cap;
}
