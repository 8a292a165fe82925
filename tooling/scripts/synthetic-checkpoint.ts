/**
 * Write a synthetic LLaMA-family checkpoint at a real 7B-class shape (seeded bf16 noise, HF layout,
 * sharded, streamed with bounded memory): see tooling/testing/src/synthetic. The same script runs here
 * and, bundled into the GPU kit by tooling/gpu/prepare-kit.sh, on the GPU host.
 *
 *   pnpm synthetic-checkpoint --shape llama2-7b --out /tmp/llama2-7b-synthetic
 *   pnpm synthetic-checkpoint --shape llama3-8b --layers 2 --out /tmp/l3-2layers --json
 *
 * Options: --shape llama2-7b|llama3-8b|tinyllama-1.1b, --out DIR (must not exist), --layers N, --seed S (0),
 * --std X (0.02), --shard-gb G (5), --tokenizer DIR (apps/cli/demo/bip-llama-tiny, from the current folder),
 * --json (one JSON line at the end). Progress goes to stderr every few seconds.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_MAX_SHARD_BYTES, DEFAULT_STD, SYNTHETIC_SHAPE_NAMES, writeSyntheticCheckpoint, type SyntheticShapeName } from '../testing/src/synthetic/index.js'; // tooling is not a workspace package: import the source

function fail(message: string): never {
  process.stderr.write(`synthetic-checkpoint: ${message}\n`);
  process.exit(2);
}

function number(raw: string | undefined, option: string, fallback: number, integer: boolean): number {
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (!Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v))) fail(`${option} must be a positive ${integer ? 'integer' : 'number'}, got "${raw}"`);
  return v;
}

let values: Record<string, string | boolean | undefined>;
try {
  ({ values } = parseArgs({
    options: {
      shape: { type: 'string' },
      out: { type: 'string' },
      layers: { type: 'string' },
      seed: { type: 'string' },
      std: { type: 'string' },
      'shard-gb': { type: 'string' },
      tokenizer: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  }));
} catch (e) {
  fail(`${(e as Error).message}. Usage: --shape ${SYNTHETIC_SHAPE_NAMES.join('|')} --out DIR [--layers N] [--seed S] [--std X] [--shard-gb G] [--tokenizer DIR] [--json]`);
}
const shape = values.shape as string | undefined;
if (!shape || !(SYNTHETIC_SHAPE_NAMES as string[]).includes(shape)) fail(`--shape must be one of ${SYNTHETIC_SHAPE_NAMES.join(', ')}${shape ? `, got "${shape}"` : ''}`);
if (typeof values.out !== 'string') fail('--out DIR is required (a folder that does not exist yet)');
const seedRaw = values.seed as string | undefined;
const seed = seedRaw === undefined ? 0 : Number(seedRaw);
if (!Number.isInteger(seed) || seed < 0) fail(`--seed must be a non-negative integer, got "${seedRaw}"`);
const layersRaw = values.layers as string | undefined;

const started = Date.now();
let lastReport = 0;
try {
  const res = await writeSyntheticCheckpoint({
    shape: shape as SyntheticShapeName,
    outDir: values.out,
    ...(layersRaw !== undefined ? { layers: number(layersRaw, '--layers', 1, true) } : {}),
    seed,
    std: number(values.std as string | undefined, '--std', DEFAULT_STD, false),
    maxShardBytes: number(values['shard-gb'] as string | undefined, '--shard-gb', DEFAULT_MAX_SHARD_BYTES / 1e9, false) * 1e9,
    tokenizerDir: resolve((values.tokenizer as string | undefined) ?? 'apps/cli/demo/bip-llama-tiny'),
    onProgress: (p) => {
      const now = Date.now();
      if (now - lastReport < 3000 && p.bytes < p.totalBytes) return;
      lastReport = now;
      const s = (now - started) / 1000;
      process.stderr.write(`  ${(p.bytes / 1e9).toFixed(2)} / ${(p.totalBytes / 1e9).toFixed(2)} GB (${((p.bytes / 1e6) / s).toFixed(0)} MB/s) ${p.shard} ${p.tensor}\n`);
    },
  });
  const seconds = (Date.now() - started) / 1000;
  const c = res.config;
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ dir: res.dir, shape, layers: c.numLayers, shards: res.shards, shardBytes: res.shardBytes, seconds })}\n`);
  } else {
    process.stdout.write(
      `${res.dir}: ${shape}, ${c.numLayers} layers, hidden ${c.hiddenSize}, ${c.numHeads}/${c.numKvHeads} heads, MLP ${c.intermediateSize}, vocab ${c.vocabSize}; ` +
        `${res.shards.length} bf16 shards, ${(res.shardBytes / 1e9).toFixed(2)} GB in ${seconds.toFixed(1)} s\n`,
    );
  }
} catch (e) {
  fail((e as Error).message);
}
