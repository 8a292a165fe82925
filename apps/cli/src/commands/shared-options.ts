/** Options several commands share, defined once so their help reads the same everywhere. */
import { AUTO_ALIGN, DEFAULTS } from '@llm-bip/pipeline';
import { ALLOCATIONS } from '@llm-bip/scoring';
import type { OptionSpec } from '../command.js';

export { ALLOCATIONS };
export const EXECUTION_PROVIDERS = ['auto', 'cuda', 'webgpu', 'cpu'] as const;

export const epOption: Record<string, OptionSpec> = {
  ep: { type: 'string', value: 'EP', description: `execution provider: ${EXECUTION_PROVIDERS.join(' | ')}`, defaultText: DEFAULTS.ep },
};

export const calibrationOptions: Record<string, OptionSpec> = {
  calib: { type: 'string', value: 'FILE', description: 'calibration text: .jsonl (one document per line, "text" field) or a plain text file', defaultText: DEFAULTS.calibration.fileText },
  samples: { type: 'string', value: 'N', description: 'calibration samples', defaultText: String(DEFAULTS.calibration.samples) },
  'seq-len': { type: 'string', value: 'L', description: 'tokens per calibration sample', defaultText: String(DEFAULTS.calibration.seqLen) },
  seed: { type: 'string', value: 'S', description: 'sampling seed', defaultText: String(DEFAULTS.calibration.seed) },
};

/** Least-squares reconstruction (prune-llm, prune): defined once so both read the same. */
export const reconstructionOptions: Record<string, OptionSpec> = {
  reconstruct: { type: 'boolean', description: 'refit o_proj/down_proj weights and a bias by ridge least squares on the calibration tokens (instead of mean compensation)' },
  'reconstruct-lambda': {
    type: 'string',
    value: 'L',
    description: `ridge of --reconstruct: "auto" (the one of ${DEFAULTS.reconstruction.alphas.map((a) => (a === Infinity ? 'mean' : String(a))).join(', ')} with the least held-out error) or a number >= 0, relative to the kept inputs' mean variance`,
    defaultText: String(DEFAULTS.reconstruction.lambda),
  },
  holdout: { type: 'string', value: 'F', description: 'fraction of the calibration samples held out to choose the ridge (--reconstruct-lambda auto)', defaultText: String(DEFAULTS.reconstruction.holdout) },
  'reconstruct-search': {
    type: 'string',
    value: 'HOW',
    description: 'which ridges --reconstruct-lambda auto tries: "walk" (from the middle toward the smaller held-out error, stopping at the first rise: fewer factorisations) or "grid" (every one, all errors recorded)',
    defaultText: DEFAULTS.reconstruction.search,
  },
};

/** --ratio and --allocation (--criterion comes from the registry: criterion-options.ts). */
export const pruneOptions: Record<string, OptionSpec> = {
  ratio: { type: 'string', value: 'R', description: 'fraction of attention+MLP parameters to remove, in (0, 1)' },
  allocation: { type: 'string', value: 'MODE', description: `how the ratio is spread over layers: ${ALLOCATIONS.join(' | ')}`, defaultText: `the criterion's own (flap: al-am), else ${DEFAULTS.allocation}` },
  align: {
    type: 'string',
    value: 'N',
    description: `each pruned layer keeps a multiple of N FFN channels (whole GPU kernel tiles: on CUDA a 20 % plan ran 0.71x dense unaligned, 1.14x aligned to 64), within half a block of the ratio; auto: ${AUTO_ALIGN.multiple} when every FFN is at least ${AUTO_ALIGN.minWidth} wide, else 1`,
    defaultText: String(DEFAULTS.align),
  },
};

export const outputOption = (what: string, short = true): Record<string, OptionSpec> => ({
  output: { type: 'string', ...(short ? { short: 'o' } : {}), value: 'PATH', description: what },
});

/** How scoring uses device memory: a budget (whole model when it fits, else block by block) or a block count. */
export const scoringMemoryOptions: Record<string, OptionSpec> = {
  'max-device-memory': {
    type: 'string',
    value: 'SIZE',
    description: "device memory scoring (and prune-llm's evaluation, when given) may use, e.g. 8GB, 500MB, 1.5GiB or auto (free memory now); over it, the model runs block by block",
    defaultText: String(DEFAULTS.maxDeviceMemory),
  },
  'blocks-per-session': { type: 'string', value: 'N', description: "score (and, when given, prune-llm's evaluation) block by block, N decoder blocks per ORT session (overrides --max-device-memory)" },
};

/** How evaluation uses device memory: the same option names as scoring's; absent, the whole model runs in one session. */
export const evalMemoryOptions: Record<string, OptionSpec> = {
  'max-device-memory': {
    type: 'string',
    value: 'SIZE',
    description: 'device memory evaluation may use, e.g. 8GB, 500MB, 1.5GiB or auto (free memory now); over it, perplexity and tasks run block by block',
    defaultText: 'none: the whole model in one session',
  },
  'blocks-per-session': { type: 'string', value: 'N', description: 'evaluate block by block, N decoder blocks per ORT session (overrides --max-device-memory)' },
};

export const dataOption: Record<string, OptionSpec> = {
  data: { type: 'string', value: 'DIR', description: 'folder with the datasets', defaultText: '$LLM_BIP_DATA, then the `llm-bip data fetch` cache, then ../shared/data' },
};

export const tokenizerOption: Record<string, OptionSpec> = {
  tokenizer: { type: 'string', value: 'PATH', description: 'tokenizer.json or its folder', defaultText: "the model's folder" },
};
