/**
 * Tiny model variants checked against transformers itself (torch-variants.json, made by
 * variants_reference.py on the GPU machine). The checkpoints are regenerated from their seeds by
 * `buildTinyLlama`, so only the small logits file is committed; `weightChecksum` catches a builder
 * change that would make the stored logits stale.
 *
 * Regenerate: `node --conditions=source --import tsx tooling/testing/src/parity/variants.ts OUT_DIR`
 * writes OUT_DIR/<variant>/ (HF folders + inputs.json); then on a machine with transformers:
 * `python3 tooling/testing/src/parity/variants_reference.py OUT_DIR packages/model/src/export/parity/torch-variants.json`.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { toHfConfigJson, type LlamaConfig, SafetensorsCheckpoint } from '@llm-bip/model';
import { writeTinyHfCheckpoint, type TinyLlamaShape, type TinyStorage } from '../tiny/tiny-llama.js';

export interface ParityVariant {
  name: string;
  shape: TinyLlamaShape;
  storage: TinyStorage;
  /** write config.json in the transformers 4.x layout (top-level rope_theta, torch_dtype, no head_dim) */
  transformers4Config?: boolean;
  inputIds: number[][];
  attentionMask?: number[][];
  positionIds: number[][];
  /** positions whose logits are compared (left padding excluded) */
  compare: boolean[][];
}

const ids = (seed: number, rows: number, len: number, vocab: number): number[][] =>
  Array.from({ length: rows }, (_, b) => Array.from({ length: len }, (_, t) => (seed * 7919 + b * 104729 + t * 1299709 + 17 * t * t) % vocab));
const arange = (rows: number, len: number, start = 0, step = 1) => Array.from({ length: rows }, () => Array.from({ length: len }, (_, t) => start + step * t));
const all = (rows: number, len: number) => Array.from({ length: rows }, () => Array.from({ length: len }, () => true));

const base: TinyLlamaShape = { seed: 11, hiddenSize: 64, numLayers: 2, numHeads: 4, numKvHeads: 4, intermediateSize: 96, vocabSize: 128 };
const gqa: TinyLlamaShape = { ...base, seed: 12, numHeads: 8, numKvHeads: 2, headDim: 16, tieEmbeddings: true, ropeTheta: 500000 };

// left padding: row 0 has 4 pads; positions = cumsum(mask) - 1, pads set to 1 (HF generate's convention)
const padMask = [[0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1], Array.from({ length: 12 }, () => 1)];
const padPositions = padMask.map((r) => {
  let c = -1;
  return r.map((v) => (v ? ++c : 1));
});

export const PARITY_VARIANTS: ParityVariant[] = [
  { name: 'gqa-tied-hd16', shape: gqa, storage: 'float32', inputIds: ids(1, 2, 12, 128), positionIds: arange(2, 12), compare: all(2, 12) },
  {
    name: 'gqa-left-padding',
    shape: gqa,
    storage: 'float32',
    inputIds: ids(2, 2, 12, 128),
    attentionMask: padMask,
    positionIds: padPositions,
    compare: padMask.map((r) => r.map((v) => v === 1)),
  },
  {
    name: 'llama3-rope',
    shape: { ...base, seed: 13, headDim: 16, ropeScaling: { kind: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 64 } },
    storage: 'float32',
    inputIds: ids(3, 2, 12, 128),
    positionIds: arange(2, 12, 900, 3),
    compare: all(2, 12),
  },
  {
    name: 'linear-rope',
    shape: { ...base, seed: 14, ropeScaling: { kind: 'linear', factor: 2 } },
    storage: 'float32',
    inputIds: ids(4, 2, 12, 128),
    positionIds: arange(2, 12, 300, 5),
    compare: all(2, 12),
  },
  {
    name: 'transformers4-config',
    shape: { ...base, seed: 15, ropeTheta: 20000 },
    storage: 'float32',
    transformers4Config: true,
    inputIds: ids(5, 2, 12, 128),
    positionIds: arange(2, 12, 40),
    compare: all(2, 12),
  },
  { name: 'bf16-weights', shape: { ...gqa, seed: 16, tieEmbeddings: false }, storage: 'bfloat16', inputIds: ids(6, 2, 12, 128), positionIds: arange(2, 12), compare: all(2, 12) },
];

/** config.json as transformers 4.x wrote it. */
function transformers4Json(c: LlamaConfig): Record<string, unknown> {
  const { rope_parameters: _, dtype, head_dim: __, ...rest } = toHfConfigJson(c);
  return { ...rest, rope_theta: c.ropeTheta, rope_scaling: null, torch_dtype: dtype, transformers_version: '4.45.0' };
}

/** Sum of |w| over the first layer's q_proj: a fingerprint of the seeded weights. */
export async function weightChecksum(hfDir: string): Promise<number> {
  const ck = await SafetensorsCheckpoint.open(hfDir);
  try {
    return (await ck.readFloat32('model.layers.0.self_attn.q_proj.weight')).reduce((a, v) => a + Math.abs(v), 0);
  } finally {
    await ck.close();
  }
}

/** Write the variant's HF folder at `dir`; returns its config. */
export async function writeParityVariant(v: ParityVariant, dir: string): Promise<LlamaConfig> {
  const config = await writeTinyHfCheckpoint(v.shape, dir, v.storage);
  if (v.transformers4Config) await writeFile(join(dir, 'config.json'), JSON.stringify(transformers4Json(config), null, 2));
  return config;
}

async function main(out: string): Promise<void> {
  for (const v of PARITY_VARIANTS) {
    const dir = join(out, v.name);
    await mkdir(dir, { recursive: true });
    await writeParityVariant(v, dir);
    const inputs = { input_ids: v.inputIds, attention_mask: v.attentionMask ?? null, position_ids: v.positionIds, weight_checksum: await weightChecksum(dir) };
    await writeFile(join(dir, 'inputs.json'), JSON.stringify(inputs));
  }
  console.log(`wrote ${PARITY_VARIANTS.length} variants under ${out}: ${(await readFile(join(out, PARITY_VARIANTS[0]!.name, 'config.json'), 'utf8')).length} bytes of config each`);
}

if (process.argv[1]?.endsWith('parity/variants.ts') && process.argv[2]) {
  await main(process.argv[2]);
}
