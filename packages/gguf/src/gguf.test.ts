import { existsSync, mkdirSync, readdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { mulberry32, tempDir } from '@llm-bip/testing';
import { GgufError } from './errors.js';
import { encodeHeader } from './header.js';
import { readGgufHeader, readGgufTensor, readGgufTensorBytes } from './reader.js';
import { GgmlType, encodeValues, tensorBytes } from './tensor-types.js';
import { bool, f32, str, strs, u32, u32s, type GgufMetadata } from './values.js';
import { writeGguf, type GgufTensorSource } from './writer.js';

const tmp = tempDir('llm-bip-gguf-');
afterAll(tmp.cleanup);

function randomValues(n: number, seed: number): Float32Array {
  const rand = mulberry32(seed);
  return Float32Array.from({ length: n }, () => (rand() - 0.5) * 4);
}

function source(name: string, shape: number[], type: (typeof GgmlType)[keyof typeof GgmlType], values: Float32Array): GgufTensorSource {
  return { name, shape, type, data: () => encodeValues(values, type) };
}

describe('GGUF header bytes', () => {
  it('match the v3 layout written out by hand for one key and one tensor', () => {
    const h = encodeHeader([['a', u32(7)]], [{ name: 't', shape: [2, 3], type: GgmlType.F32 }]);
    const expected = Buffer.concat([
      Buffer.from('GGUF', 'latin1'),
      le32(3), le64(1), le64(1),
      le64(1), Buffer.from('a'), le32(4), le32(7), // key "a": u32 7
      le64(1), Buffer.from('t'), le32(2), le64(3), le64(2), le32(0), le64(0), // ne = [3, 2] (reversed), F32, offset 0
    ]);
    expect(Buffer.from(h.bytes)).toEqual(expected);
    expect(h.dataStart).toBe(Math.ceil(expected.length / 32) * 32);
    expect(h.fileSize).toBe(h.dataStart + 32); // 24 bytes of data padded to 32
  });

  it('refuses what llama.cpp would reject, before writing anything', () => {
    expect(() => encodeHeader([['k', u32(1)], ['k', u32(2)]], [])).toThrow(/given twice/);
    expect(() => encodeHeader([['k', u32(-1)]], [])).toThrow(/not a u32/);
    expect(() => encodeHeader([['k', u32(1.5)]], [])).toThrow(/not a u32/);
    expect(() => encodeHeader([], [{ name: 'x'.repeat(64), shape: [1], type: GgmlType.F32 }])).toThrow(/63-byte/);
    expect(() => encodeHeader([], [{ name: 'q', shape: [2, 48], type: GgmlType.Q8_0 }])).toThrow(/multiple of 32/);
    expect(() => encodeHeader([['general.alignment', u32(12)]], [])).toThrow(/multiple of 8/);
  });
});

function le32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v);
  return b;
}
function le64(v: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(v));
  return b;
}

describe('writeGguf / readGgufHeader round trip', () => {
  const metadata: GgufMetadata = [
    ['general.architecture', str('llama')],
    ['llama.block_count', u32(3)],
    ['llama.rope.freq_base', f32(10000)],
    ['tokenizer.ggml.add_bos_token', bool(true)],
    ['llama.feed_forward_length', u32s([64, 32, 96])],
    ['tokenizer.ggml.tokens', strs(['<unk>', '▁the', 'é'])],
    ['tokenizer.ggml.scores', { type: 'array', of: 'f32', value: [0, -1.5, -2] }],
    ['tokenizer.ggml.token_type', { type: 'array', of: 'i32', value: [2, 1, 1] }],
    ['x.u64', { type: 'u64', value: 2 ** 40 }],
    ['x.i8', { type: 'i8', value: -5 }],
    ['x.f64', { type: 'f64', value: Math.PI }],
  ];
  const f32v = randomValues(6 * 10, 1);
  const f16v = randomValues(5 * 7, 2);
  const bf16v = randomValues(4 * 9, 3);
  const q8v = randomValues(3 * 64, 4);
  const tensors = [
    source('a.f32', [6, 10], GgmlType.F32, f32v),
    source('b.f16', [5, 7], GgmlType.F16, f16v),
    source('c.bf16', [4, 9], GgmlType.BF16, bf16v),
    source('d.q8', [3, 64], GgmlType.Q8_0, q8v),
  ];

  it('reads back every value, shape, type and tensor, at aligned offsets', async () => {
    const path = join(tmp.dir, 'round.gguf');
    const progress: string[] = [];
    const res = await writeGguf(path, metadata, tensors, { onProgress: (p) => progress.push(`${p.done}/${p.total} ${p.tensor}`) });
    expect(progress).toEqual(['1/4 a.f32', '2/4 b.f16', '3/4 c.bf16', '4/4 d.q8']);
    const file = await readGgufHeader(path);
    expect(file.version).toBe(3);
    expect(file.fileSize).toBe(res.bytes);
    expect(readFileSync(path).length).toBe(res.bytes);
    expect(file.fileSize % 32).toBe(0);
    expect([...file.metadata.entries()]).toEqual(metadata.map(([k, v]) => [k, v.type === 'f32' ? { ...v, value: Math.fround(v.value) } : v]));
    expect(file.tensors.map((t) => [t.name, t.shape, t.type])).toEqual(tensors.map((t) => [t.name, t.shape, t.type]));
    for (const t of file.tensors) expect(t.offset % 32).toBe(0);
    expect(await readGgufTensor(file, 'a.f32')).toEqual(f32v);
    // fp16 / bf16: round to nearest, so within half an ulp of each format (11 and 8 significant bits)
    const f16 = await readGgufTensor(file, 'b.f16');
    f16v.forEach((x, i) => expect(Math.abs(f16[i]! - x)).toBeLessThanOrEqual(Math.abs(x) * 2 ** -11 + 1e-7));
    const bf16 = await readGgufTensor(file, 'c.bf16');
    bf16v.forEach((x, i) => expect(Math.abs(bf16[i]! - x)).toBeLessThanOrEqual(Math.abs(x) * 2 ** -8));
    // Q8_0: each value within half a step d = max|block| / 127 of the original (plus the fp16 rounding of d)
    const q8 = await readGgufTensor(file, 'd.q8');
    for (let b = 0; b < q8v.length / 32; b++) {
      const block = q8v.subarray(b * 32, b * 32 + 32);
      const d = Math.max(...Array.from(block, Math.abs)) / 127;
      block.forEach((x, i) => expect(Math.abs(q8[b * 32 + i]! - x)).toBeLessThanOrEqual(d * 0.5 + Math.abs(x) * 2 ** -10));
    }
    expect((await readGgufTensorBytes(file, 'd.q8')).length).toBe(tensorBytes(GgmlType.Q8_0, [3, 64]));
  });

  it('Q8_0 blocks hold the fp16 scale and round(x / d) half away from zero', () => {
    const values = Float32Array.from({ length: 32 }, (_, i) => (i - 16) * 0.25); // max |x| = 4 -> d = 4/127
    const bytes = encodeValues(values, GgmlType.Q8_0);
    expect(bytes.length).toBe(34);
    const view = new DataView(bytes.buffer, bytes.byteOffset);
    expect(view.getUint16(0, true)).toBe(0x2808); // 4/127 = 0.0314961 = (1 + 8.06/1024) * 2^-5 -> exponent 10, mantissa 8: 0x2808 (0.03149414)
    const q = Array.from({ length: 32 }, (_, i) => view.getInt8(2 + i));
    expect(q[0]).toBe(-127);
    expect(q[16]).toBe(0);
    expect(q[18]).toBe(Math.round(0.5 / (4 / 127))); // 15.875 -> 16
    expect(encodeValues(new Float32Array(32), GgmlType.Q8_0).every((b) => b === 0)).toBe(true); // d = 0: all zeros, no NaN
  });

  it('a source that gives the wrong byte count fails and leaves no file and no temp file', async () => {
    const dir = join(tmp.dir, 'bad');
    mkdirSync(dir);
    const path = join(dir, 'bad.gguf');
    const wrong: GgufTensorSource = { name: 'w', shape: [4], type: GgmlType.F32, data: () => new Uint8Array(12) };
    await expect(writeGguf(path, [], [wrong])).rejects.toThrow(/needs 16 bytes, its source gave 12/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('an aborted write leaves no file', async () => {
    const dir = join(tmp.dir, 'aborted');
    mkdirSync(dir);
    const ac = new AbortController();
    const t: GgufTensorSource = { name: 'w', shape: [4], type: GgmlType.F32, data: () => (ac.abort(), new Uint8Array(16)) };
    await expect(writeGguf(join(dir, 'a.gguf'), [], [t, { ...t, name: 'v' }], { signal: ac.signal })).rejects.toThrow();
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('readGgufHeader on corrupt files', () => {
  it('names the problem: not GGUF, truncated header, truncated data, absurd counts', async () => {
    const good = join(tmp.dir, 'good.gguf');
    await writeGguf(good, [['k', strs(['a', 'b'])]], [source('t', [8], GgmlType.F32, randomValues(8, 9))]);
    const bytes = readFileSync(good);

    const notGguf = join(tmp.dir, 'not.gguf');
    writeFileSync(notGguf, Buffer.from('{"json": true}'));
    await expect(readGgufHeader(notGguf)).rejects.toThrow(/not a GGUF file/);

    const shortHeader = join(tmp.dir, 'short.gguf');
    writeFileSync(shortHeader, bytes.subarray(0, 50));
    await expect(readGgufHeader(shortHeader)).rejects.toThrow(/ends inside its header/);

    const shortData = join(tmp.dir, 'shortdata.gguf');
    writeFileSync(shortData, bytes);
    truncateSync(shortData, bytes.length - 20);
    await expect(readGgufHeader(shortData)).rejects.toThrow(/tensor "t" needs bytes .* truncated/);

    const hugeCount = Buffer.from(bytes);
    hugeCount.writeBigUInt64LE(10n ** 15n, 16); // metadata count
    const huge = join(tmp.dir, 'huge.gguf');
    writeFileSync(huge, hugeCount);
    const err = await readGgufHeader(huge).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GgufError);
    expect((err as Error).message).toMatch(/metadata count 1000000000000000 cannot fit/);
    expect(existsSync(good)).toBe(true);
  });
});
