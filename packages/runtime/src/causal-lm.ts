import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { RuntimeError } from './errors.js';
import { float16ToFloat32 } from './float16.js';
import { ort, type OrtTensor, type OrtValueMetadata } from './ort.js';
import type { Feeds, Session } from './session.js';
import { int64Tensor, type TokenBatch } from './tensors.js';

/**
 * KV-cache geometry for models whose past inputs leave heads or head_dim symbolic. A pruned model's
 * layers can differ: `layers[i]` is layer i's (the N of past_key_values.N.*) and wins over the single
 * numbers, which hold for every layer without an entry.
 */
export interface KvLayout {
  numKvHeads?: number;
  headDim?: number;
  layers?: Array<{ numKvHeads: number; headDim: number }>;
}

const layoutCache = new Map<string, KvLayout>();

/**
 * KV geometry from the config files that exporters put beside the model: genai_config.json
 * (onnxruntime-genai builder) or an HF config.json (optimum). Empty when neither is there. A pruned
 * config.json (llm-bip surgery) lists every layer's sizes under `llm_bip_layers`; they become
 * `layers`, since its top-level num_key_value_heads is only the largest layer's.
 */
export function kvLayoutBesideModel(modelPath: string): KvLayout {
  const cached = layoutCache.get(modelPath);
  if (cached) return cached;
  const dir = dirname(modelPath);
  let layout: KvLayout = {};
  try {
    const genai = join(dir, 'genai_config.json');
    const hf = join(dir, 'config.json');
    if (existsSync(genai)) {
      const d = (JSON.parse(readFileSync(genai, 'utf8')) as { model?: { decoder?: Record<string, number> } }).model?.decoder ?? {};
      layout = { numKvHeads: d.num_key_value_heads, headDim: d.head_size };
    } else if (existsSync(hf)) {
      const c = JSON.parse(readFileSync(hf, 'utf8')) as Record<string, number | undefined> & { llm_bip_layers?: Array<Record<string, number | undefined>> };
      const heads = c.num_attention_heads;
      const headDim = c.head_dim ?? (c.hidden_size !== undefined && heads ? c.hidden_size / heads : undefined);
      layout = { numKvHeads: c.num_key_value_heads ?? heads, headDim };
      const perLayer = c.llm_bip_layers;
      if (Array.isArray(perLayer) && headDim !== undefined && perLayer.every((l) => typeof l.num_key_value_heads === 'number')) {
        layout.layers = perLayer.map((l) => ({ numKvHeads: l.num_key_value_heads!, headDim: l.head_dim ?? headDim }));
      }
    }
  } catch {
    layout = {};
  }
  layoutCache.set(modelPath, layout);
  return layout;
}

/** One KV-cache input and the output that carries its next value. */
export interface KvSlot {
  layer: number;
  kind: 'key' | 'value';
  input: string;
  output: string;
  meta: OrtValueMetadata;
}

const pastPattern = /^past_key_values\.(\d+)\.(key|value)$/;
/** The KV-cache outputs' names: present.N.key/value (or present_key_values.N.*). */
export const presentPattern = /^present(?:_key_values)?\.(\d+)\.(key|value)$/;

/** The model's KV-cache inputs paired with their present outputs (empty for models without a cache). */
export function kvSlots(session: Session): KvSlot[] {
  const outputs = new Map<string, string>();
  for (const name of session.outputNames) {
    const m = presentPattern.exec(name);
    if (m) outputs.set(`${m[1]}.${m[2]}`, name);
  }
  const slots: KvSlot[] = [];
  for (const meta of session.inputMetadata) {
    const m = pastPattern.exec(meta.name);
    if (!m) continue;
    const output = outputs.get(`${m[1]}.${m[2]}`);
    if (!output) {
      throw new RuntimeError(`KV input ${meta.name} has no matching present.${m[1]}.${m[2]} output; outputs: ${session.outputNames.join(', ')}`);
    }
    slots.push({ layer: Number(m[1]), kind: m[2] as 'key' | 'value', input: meta.name, output, meta });
  }
  return slots;
}

/** A zero-length past for one KV input: [batch, kv_heads, 0, head_dim]; symbolic sizes come from `layout` (its entry for the slot's layer first). */
export function emptyPast(slot: KvSlot, batch: number, layout: KvLayout = {}): OrtTensor {
  if (!slot.meta.isTensor) throw new RuntimeError(`${slot.input} is not a tensor input`);
  const shape = slot.meta.shape;
  if (shape.length !== 4) throw new RuntimeError(`${slot.input}: expected rank-4 [batch, heads, seq, head_dim], got [${shape.join(', ')}]`);
  const fixed = (i: number, fallback: number | undefined, what: string): number => {
    const d = shape[i];
    if (typeof d === 'number' && d >= 0) return d;
    if (fallback === undefined) {
      throw new RuntimeError(`${slot.input}: ${what} is symbolic ("${String(d)}"); pass kv: { ${what === 'kv heads' ? 'numKvHeads' : 'headDim'} } (from the ModelSpec), or put genai_config.json / config.json beside the model`);
    }
    return fallback;
  };
  const own = layout.layers?.[slot.layer];
  const dims = [batch, fixed(1, own?.numKvHeads ?? layout.numKvHeads, 'kv heads'), 0, fixed(3, own?.headDim ?? layout.headDim, 'head dim')];
  const type = slot.meta.type;
  if (type === 'float16') return new ort.Tensor('float16', new Uint16Array(0), dims);
  if (type === 'float32') return new ort.Tensor('float32', new Float32Array(0), dims);
  throw new RuntimeError(`${slot.input}: unsupported KV dtype ${type}`);
}

/**
 * Feeds for a plain forward pass of a causal LM over `batch`: input_ids, attention_mask, position_ids when
 * the model takes them, and empty pasts when it has a KV cache (the whole sequence is the prompt).
 */
export function forwardFeeds(session: Session, batch: TokenBatch, layout?: KvLayout): Feeds {
  const feeds: Feeds = {};
  const slots = kvSlots(session);
  const kv = slots.length ? { ...kvLayoutBesideModel(session.modelPath), ...layout } : {};
  for (const name of session.inputNames) {
    if (name === 'input_ids') feeds[name] = batch.ids;
    else if (name === 'attention_mask') feeds[name] = batch.attentionMask;
    else if (name === 'position_ids') feeds[name] = batch.positionIds;
  }
  for (const slot of slots) feeds[slot.input] = emptyPast(slot, batch.batch, kv);
  const unknown = session.inputNames.filter((n) => !(n in feeds));
  if (unknown.length) {
    throw new RuntimeError(`forwardFeeds: do not know how to feed ${unknown.join(', ')} (supported: input_ids, attention_mask, position_ids, past_key_values.N.key/value)`);
  }
  return feeds;
}

/** Name of the logits output: 'logits' or the only output. */
export function logitsOutputName(session: Session): string {
  if (session.outputNames.includes('logits')) return 'logits';
  if (session.outputNames.length === 1) return session.outputNames[0]!;
  throw new RuntimeError(`cannot tell which output holds logits among: ${session.outputNames.join(', ')}`);
}

/** Logits as float32 [rows, vocab] (rows = batch*seq), whatever the model's output dtype. */
export interface LogitsView {
  data: Float32Array;
  batch: number;
  seq: number;
  vocab: number;
}

export function logitsView(tensor: OrtTensor): LogitsView {
  const dims = tensor.dims;
  if (dims.length !== 3) throw new RuntimeError(`logits: expected [batch, seq, vocab], got [${dims.join(', ')}]`);
  const data =
    tensor.type === 'float16'
      ? float16ToFloat32(tensor.data as Uint16Array)
      : tensor.type === 'float32'
        ? (tensor.data as Float32Array)
        : (() => {
            throw new RuntimeError(`logits: unsupported dtype ${tensor.type}`);
          })();
  return { data, batch: dims[0]!, seq: dims[1]!, vocab: dims[2]! };
}

/** Run one forward pass and return its logits as float32. */
export async function forwardLogits(session: Session, batch: TokenBatch, layout?: KvLayout): Promise<LogitsView> {
  const out = await session.run(forwardFeeds(session, batch, layout), [logitsOutputName(session)]);
  return logitsView(out[logitsOutputName(session)]!);
}

/** Build the [batch, seq] position ids starting at `start`. */
export function positionTensor(batch: number, start: number, length: number): OrtTensor {
  const values: number[] = [];
  for (let b = 0; b < batch; b++) for (let t = 0; t < length; t++) values.push(start + t);
  return int64Tensor(values, [batch, length]);
}
