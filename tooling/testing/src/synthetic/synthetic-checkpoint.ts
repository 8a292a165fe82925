/**
 * Synthetic LLaMA-family checkpoints at real shapes (7B class): a HF folder (config.json, bf16
 * safetensors shards + model.safetensors.index.json, tokenizer files, synthetic.json) written by our
 * own seeded generator, shard by shard and chunk by chunk, so memory stays at one chunk whatever the
 * model size. For measuring export, surgery, scoring and evaluation at scale without any download.
 *
 * Values: Linear weights and embeddings N(0, std) (std 0.02, the initialiser_range of LLaMA configs),
 * RMSNorm weights exactly 1, so activations stay of order 1 and the forward is finite in fp16. Every
 * tensor draws from its own stream (seed and tensor name), so a run with fewer layers holds the same
 * first layers, and any shard can be checked on its own.
 */
import { copyFile, mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { llamaWeightShapes, normaliseHfConfig, writeSafetensorsStreamed, type LlamaConfig, type SafetensorsTensorHeader } from '@llm-bip/model';
import { float32ToBfloat16 } from '@llm-bip/onnx-io';
// scoring's PRNG from its source file: the package index would pull onnxruntime-node into the bundled generator
import { mulberry32 } from '../../../../packages/scoring/src/rng.js';
import { SYNTHETIC_SHAPES, type SyntheticShapeName } from './shapes.js';

export interface SyntheticCheckpointRequest {
  shape: SyntheticShapeName;
  /** the folder to create (it must not exist; it appears only when complete) */
  outDir: string;
  /** decoder layers instead of the shape's (small trials) */
  layers?: number;
  /** other config.json integers replaced (tests: a tiny width with the shape's head layout) */
  overrides?: Partial<Record<'hidden_size' | 'intermediate_size' | 'num_attention_heads' | 'num_key_value_heads' | 'vocab_size', number>>;
  seed?: number;
  /** standard deviation of Linear weights and embeddings (0.02) */
  std?: number;
  /** largest shard in bytes (HF's default max_shard_size "5GB") */
  maxShardBytes?: number;
  /** folder holding tokenizer.json (copied with tokenizer_config.json and special_tokens_map.json when present) */
  tokenizerDir: string;
  onProgress?: (p: { bytes: number; totalBytes: number; tensor: string; shard: string }) => void;
}

export interface SyntheticCheckpoint {
  dir: string;
  config: LlamaConfig;
  shards: string[];
  /** bytes of the shard files (weights and headers) */
  shardBytes: number;
}

export const DEFAULT_STD = 0.02;
export const DEFAULT_MAX_SHARD_BYTES = 5e9;
const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'];
/** values generated per chunk: 8 MiB of bf16 */
const CHUNK = 4 * 1024 * 1024;

/** FNV-1a of the seed and a tensor name: each tensor's own PRNG stream. */
function streamSeed(seed: number, name: string): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** Acklam's rational approximation of the standard normal quantile (relative error < 1.2e-9). */
export function normalQuantile(p: number): number {
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const tail = (q: number) => (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) / ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1);
  if (p < 0.02425) return tail(Math.sqrt(-2 * Math.log(p)));
  if (p > 1 - 0.02425) return -tail(Math.sqrt(-2 * Math.log(1 - p)));
  const q = p - 0.5;
  const r = q * q;
  return ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) / (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1);
}

/**
 * bf16 codes of N(0, std) at the 65,536 equiprobable midpoints (k + 0.5) / 65536: a 16-bit uniform
 * indexes it (inverse-CDF sampling). bf16 keeps 8 significant bits, far coarser than the spacing
 * of these quantiles except in the tails, which end at +-4.3 std.
 */
function normalTable(std: number): Uint16Array {
  const q = new Float32Array(65536);
  for (let k = 0; k < 65536; k++) q[k] = std * normalQuantile((k + 0.5) / 65536);
  return float32ToBfloat16(q);
}

/** Fill `out` with bf16 draws: two per 32-bit PRNG output. */
function fillNormalBf16(out: Uint16Array, next: () => number, table: Uint16Array): void {
  for (let i = 0; i < out.length; i += 2) {
    const u = (next() * 4294967296) >>> 0;
    out[i] = table[u & 0xffff]!;
    if (i + 1 < out.length) out[i + 1] = table[u >>> 16]!;
  }
}

const BF16_ONE = 0x3f80;

/** config.json of the request: the shape's, with the overrides, in the checkpoint's own key layout. */
export function syntheticConfigJson(req: Pick<SyntheticCheckpointRequest, 'shape' | 'layers' | 'overrides'>): Record<string, unknown> {
  const base = SYNTHETIC_SHAPES[req.shape];
  if (!base) throw new Error(`unknown shape "${req.shape}": choose one of ${Object.keys(SYNTHETIC_SHAPES).join(', ')}`);
  const json: Record<string, unknown> = { ...base, ...(req.overrides ?? {}) };
  if (req.layers !== undefined) {
    if (!Number.isInteger(req.layers) || req.layers < 1) throw new Error(`--layers must be a positive integer, got ${req.layers}`);
    json.num_hidden_layers = req.layers;
  }
  // the test-bed tokenizer's special ids: the only tokenizer in the folder
  json.bos_token_id = 1;
  json.eos_token_id = 2;
  return json;
}

/** Tensors dealt into shards in checkpoint order, each shard at most `maxBytes` (a bigger tensor gets its own). */
function planShards(tensors: SafetensorsTensorHeader[], maxBytes: number): SafetensorsTensorHeader[][] {
  const shards: SafetensorsTensorHeader[][] = [];
  let current: SafetensorsTensorHeader[] = [];
  let bytes = 0;
  for (const t of tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1) * 2;
    if (current.length > 0 && bytes + n > maxBytes) {
      shards.push(current);
      current = [];
      bytes = 0;
    }
    current.push(t);
    bytes += n;
  }
  if (current.length) shards.push(current);
  return shards;
}

/** Write a synthetic checkpoint; the folder appears (renamed from `<outDir>.partial`) only when complete. */
export async function writeSyntheticCheckpoint(req: SyntheticCheckpointRequest): Promise<SyntheticCheckpoint> {
  const dir = resolve(req.outDir);
  if (existsSync(dir)) throw new Error(`${dir} already exists: remove it or choose another --out`);
  const tokenizer = join(req.tokenizerDir, 'tokenizer.json');
  if (!existsSync(tokenizer)) throw new Error(`no tokenizer.json in ${req.tokenizerDir}: pass --tokenizer DIR (e.g. apps/cli/demo/bip-llama-tiny)`);
  const json = syntheticConfigJson(req);
  const config = normaliseHfConfig(json, `${req.shape} config`);
  const std = req.std ?? DEFAULT_STD;
  const seed = req.seed ?? 0;
  const tensors: SafetensorsTensorHeader[] = llamaWeightShapes(config).map((w) => ({ name: w.name, dtype: 'BF16', shape: w.shape }));
  const shards = planShards(tensors, req.maxShardBytes ?? DEFAULT_MAX_SHARD_BYTES);
  const names = shards.map((_, i) => `model-${String(i + 1).padStart(5, '0')}-of-${String(shards.length).padStart(5, '0')}.safetensors`);
  const totalBytes = tensors.reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1) * 2, 0);

  const partial = `${dir}.partial`;
  await rm(partial, { recursive: true, force: true });
  await mkdir(partial, { recursive: true });
  try {
    const table = normalTable(std);
    const buf = new Uint16Array(CHUNK);
    let bytes = 0;
    const weightMap: Record<string, string> = {};
    for (const [s, shard] of shards.entries()) {
      await writeSafetensorsStreamed(join(partial, names[s]!), shard, async (t, write) => {
        weightMap[t.name] = names[s]!;
        const n = t.shape.reduce((a, b) => a * b, 1);
        const next = mulberry32(streamSeed(seed, t.name));
        for (let done = 0; done < n; ) {
          const m = Math.min(CHUNK, n - done);
          const part = buf.subarray(0, m);
          if (t.shape.length === 1) part.fill(BF16_ONE);
          else fillNormalBf16(part, next, table);
          await write(new Uint8Array(part.buffer, 0, m * 2));
          done += m;
          bytes += m * 2;
          req.onProgress?.({ bytes, totalBytes, tensor: t.name, shard: names[s]! });
        }
      });
    }
    await writeFile(join(partial, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: totalBytes }, weight_map: weightMap }, null, 2));
    await writeFile(join(partial, 'config.json'), JSON.stringify(json, null, 2));
    await writeFile(join(partial, 'generation_config.json'), JSON.stringify({ bos_token_id: 1, eos_token_id: 2 }, null, 2));
    for (const f of TOKENIZER_FILES) if (existsSync(join(req.tokenizerDir, f))) await copyFile(join(req.tokenizerDir, f), join(partial, f));
    await writeFile(
      join(partial, 'synthetic.json'),
      JSON.stringify(
        {
          generator: 'llm-bip tooling/scripts/synthetic-checkpoint.ts',
          shape: req.shape,
          layers: config.numLayers,
          overrides: req.overrides ?? {},
          seed,
          std,
          values: `Linear weights and embeddings N(0, ${std}) (inverse-CDF on 16-bit uniforms, bf16), RMSNorm weights 1; seeded noise, not a trained model`,
          tokenizer: 'the bip-llama test-bed tokenizer (8,192 ids; bos 1, eos 2): embedding rows from 8,192 on are never read by it',
        },
        null,
        2,
      ),
    );
    await rename(partial, dir);
  } catch (e) {
    await rm(partial, { recursive: true, force: true });
    throw e;
  }
  const shardBytes = (await Promise.all(names.map((n) => stat(join(dir, n))))).reduce((a, s) => a + s.size, 0);
  return { dir, config, shards: names, shardBytes };
}
