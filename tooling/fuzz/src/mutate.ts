/**
 * Seeded mutators for hostile-input testing: raw bytes (bit flips, truncation), JSON (value swaps,
 * deleted and duplicated keys), ONNX (dims, raw data lengths, external-data entries) and
 * safetensors headers (dtype, shape, offsets). Each takes an Rng, so a case is replayed by its seed.
 */
import { decodeModel, encodeModel, type ModelProto, type TensorProto } from '@llm-bip/onnx-io';
import type { Rng } from '@llm-bip/scoring';

export const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[rng.int(xs.length)]!;

/** Flip 1..8 random bits. */
export function flipBits(bytes: Uint8Array, rng: Rng): Uint8Array {
  const out = Uint8Array.from(bytes);
  const n = 1 + rng.int(8);
  for (let i = 0; i < n; i++) out[rng.int(out.length)]! ^= 1 << rng.int(8);
  return out;
}

/** Cut the file at a random length (possibly 0). */
export function truncate(bytes: Uint8Array, rng: Rng): Uint8Array {
  return bytes.slice(0, rng.int(bytes.length));
}

/** Values a hostile file puts where a number, string, list or object was expected. */
const HOSTILE_VALUES: unknown[] = [null, 'x', '', 1e308, -1, 0, 2 ** 53 + 2, 1.5, -1e9, 1e9, true, [], {}, [null], { a: null }];
/** Texts JSON cannot carry but a file can (NaN, Infinity): written raw. */
const RAW_VALUES = ['NaN', 'Infinity', '-Infinity', '1e999'];

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Every path into a JSON value, up to `maxPaths` (sampled from large arrays such as a vocabulary). */
function paths(v: Json, rng: Rng, maxDepth = 6, prefix: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  if (prefix.length > 0) out.push(prefix);
  if (prefix.length >= maxDepth || v === null || typeof v !== 'object') return out;
  const keys: (string | number)[] = Array.isArray(v) ? v.map((_, i) => i) : Object.keys(v);
  // big containers (a vocabulary): a few random members, not all of them
  const chosen = keys.length > 12 ? Array.from({ length: 6 }, () => keys[rng.int(keys.length)]!) : keys;
  for (const k of chosen) paths((v as Record<string | number, Json>)[k]!, rng, maxDepth, [...prefix, k], out);
  return out;
}

/**
 * One JSON mutation: a value swapped for a hostile one, a key deleted, a key duplicated with a
 * hostile value (JSON.parse keeps the last), or a raw NaN/Infinity. Returns the new text and what
 * was done.
 */
export function mutateJson(text: string, rng: Rng): { text: string; what: string } {
  const doc = JSON.parse(text) as Json;
  const all = paths(doc, rng);
  if (all.length === 0) return { text: JSON.stringify(pick(rng, HOSTILE_VALUES)), what: 'whole document replaced' };
  const path = pick(rng, all);
  const parentPath = path.slice(0, -1);
  const key = path[path.length - 1]!;
  const parent = parentPath.reduce<Json>((o, k) => (o as Record<string | number, Json>)[k]!, doc) as Record<string | number, Json>;
  const where = path.join('.');
  const kind = rng.int(4);
  if (kind === 0) {
    const value = pick(rng, HOSTILE_VALUES) as Json;
    parent[key] = value;
    return { text: JSON.stringify(doc), what: `${where} = ${JSON.stringify(value)}` };
  }
  if (kind === 1 && !Array.isArray(parent)) {
    delete parent[key];
    return { text: JSON.stringify(doc), what: `${where} deleted` };
  }
  const marker = '"__llm_bip_fuzz__"';
  const original = parent[key];
  parent[key] = '__llm_bip_fuzz__';
  const raw = kind === 2 ? pick(rng, RAW_VALUES) : JSON.stringify(pick(rng, HOSTILE_VALUES));
  const out = JSON.stringify(doc);
  if (kind === 3 && !Array.isArray(parent)) {
    // duplicated key: the original value, then the same key again with a hostile one
    return { text: out.replace(marker, `${JSON.stringify(original)}, ${JSON.stringify(String(key))}: ${raw}`), what: `${where} duplicated as ${raw}` };
  }
  return { text: out.replace(marker, raw), what: `${where} = ${raw} (raw)` };
}

/** Tensors of a model that carry data (initializers). */
function initializers(m: ModelProto): TensorProto[] {
  return m.graph?.initializer ?? [];
}

/**
 * One structural ONNX mutation: a dim changed (doubled, zeroed, negative, huge), raw data cut short,
 * or an external-data entry edited (offset, length, location with `..` or an absolute path).
 */
export function mutateOnnx(bytes: Uint8Array, rng: Rng): { bytes: Uint8Array; what: string } {
  const m = decodeModel(bytes);
  const inits = initializers(m);
  const t = pick(rng, inits);
  const kind = rng.int(4);
  if (kind === 0 && (t.dims?.length ?? 0) > 0) {
    const i = rng.int(t.dims!.length);
    const v = pick(rng, [0, -1, 2 ** 31, 2 ** 40, Number(t.dims![i]) * 2, Number(t.dims![i]) + 1]);
    t.dims![i] = v;
    return { bytes: encodeModel(m), what: `${t.name} dims[${i}] = ${v}` };
  }
  if (kind === 1 && t.rawData && t.rawData.length > 0) {
    t.rawData = t.rawData.slice(0, rng.int(t.rawData.length));
    return { bytes: encodeModel(m), what: `${t.name} raw_data cut to ${t.rawData.length} bytes` };
  }
  const ext = inits.filter((x) => (x.externalData?.length ?? 0) > 0);
  if (ext.length > 0) {
    const e = pick(rng, ext);
    const entry = pick(rng, e.externalData!);
    const value =
      entry.key === 'location'
        ? pick(rng, ['../model.onnx.data', '/etc/passwd', 'sub/../../x', '', 'missing.data', 'model.onnx'])
        : pick(rng, ['-1', '1e9', '99999999999', 'abc', '0', String(2 ** 53 + 2)]);
    entry.value = value;
    return { bytes: encodeModel(m), what: `${e.name} external ${entry.key} = ${JSON.stringify(value)}` };
  }
  return { bytes: flipBits(bytes, rng), what: 'bit flips' };
}

/** One safetensors header mutation (the JSON header rewritten, data bytes kept). */
export function mutateSafetensors(bytes: Uint8Array, rng: Rng): { bytes: Uint8Array; what: string } {
  const buf = Buffer.from(bytes);
  const len = Number(buf.readBigUInt64LE(0));
  const header = buf.subarray(8, 8 + len).toString('utf8');
  const data = buf.subarray(8 + len);
  const kind = rng.int(3);
  let text: string;
  let what: string;
  if (kind === 0) {
    ({ text, what } = mutateJson(header, rng));
  } else {
    // a tensor's offsets moved onto another's, or its shape grown: the claims no longer match the bytes
    const h = JSON.parse(header) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
    const names = Object.keys(h).filter((k) => k !== '__metadata__');
    const a = h[pick(rng, names)]!;
    const b = h[pick(rng, names)]!;
    if (kind === 1) a.data_offsets = [b.data_offsets[0], b.data_offsets[0] + (a.data_offsets[1] - a.data_offsets[0])];
    else a.shape = a.shape.map((d) => d * 2);
    text = JSON.stringify(h);
    what = kind === 1 ? 'offsets made to overlap' : 'shape doubled';
  }
  const hb = Buffer.from(text);
  const lb = Buffer.alloc(8);
  lb.writeBigUInt64LE(BigInt(hb.length));
  return { bytes: Buffer.concat([lb, hb, data]), what: `header: ${what}` };
}
