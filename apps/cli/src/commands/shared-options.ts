/** Options several commands share, defined once so their help reads the same everywhere. */
import type { OptionSpec } from '../command.js';

export const CRITERIA = ['llm-bip', 'wanda-sp', 'flap', 'magnitude', 'random'] as const;
export const ALLOCATIONS = ['uniform', 'global-kind', 'global', 'al-am'] as const;
export const EXECUTION_PROVIDERS = ['auto', 'cuda', 'webgpu', 'cpu'] as const;

export const epOption: Record<string, OptionSpec> = {
  ep: { type: 'string', value: 'EP', description: `execution provider: ${EXECUTION_PROVIDERS.join(' | ')}`, defaultText: 'auto' },
};

export const calibrationOptions: Record<string, OptionSpec> = {
  calib: { type: 'string', value: 'FILE', description: 'calibration text: .jsonl (one document per line, "text" field) or a plain text file', defaultText: 'the C4 sample in the data folder' },
  samples: { type: 'string', value: 'N', description: 'calibration samples', defaultText: '128' },
  'seq-len': { type: 'string', value: 'L', description: 'tokens per calibration sample', defaultText: '128' },
  seed: { type: 'string', value: 'S', description: 'sampling seed', defaultText: '0' },
};

export const pruneOptions: Record<string, OptionSpec> = {
  ratio: { type: 'string', value: 'R', description: 'fraction of attention+MLP parameters to remove, in (0, 1)' },
  criterion: { type: 'string', value: 'NAME', description: `importance criterion: ${CRITERIA.join(' | ')}`, defaultText: 'llm-bip' },
  allocation: { type: 'string', value: 'MODE', description: `how the ratio is spread over layers: ${ALLOCATIONS.join(' | ')}`, defaultText: "the criterion's own (flap: al-am), else global-kind" },
};

export const outputOption = (what: string, short = true): Record<string, OptionSpec> => ({
  output: { type: 'string', ...(short ? { short: 'o' } : {}), value: 'PATH', description: what },
});

export const dataOption: Record<string, OptionSpec> = {
  data: { type: 'string', value: 'DIR', description: 'folder with the datasets', defaultText: '$LLM_BIP_DATA or ../shared/data' },
};

export const tokenizerOption: Record<string, OptionSpec> = {
  tokenizer: { type: 'string', value: 'PATH', description: 'tokenizer.json or its folder', defaultText: "the model's folder" },
};
