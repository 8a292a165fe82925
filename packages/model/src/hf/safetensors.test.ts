import { afterAll, describe, expect, it } from 'vitest';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixtures, tempDir } from '@llm-bip/testing';
import { float32ToFloat16, float32ToBfloat16 } from '@llm-bip/onnx-io';
import { SafetensorsCheckpoint, readSafetensorsHeader } from './safetensors.js';
import { encodeSafetensors, writeSafetensors } from './safetensors-write.js';

const tmp = tempDir('llm-bip-safetensors-');
afterAll(() => tmp.cleanup());

const bytes = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
const a32 = Float32Array.from([1, -2.5, 3.25, 0.5, 7, -0.125]);

async function folder(name: string): Promise<string> {
  const dir = join(tmp.dir, name);
  mkdirSync(dir, { recursive: true });
  return dir;
}

describe('safetensors', () => {
  it('writes and reads F32, F16 and BF16 tensors by offset', async () => {
    const dir = await folder('single');
    await writeSafetensors(join(dir, 'model.safetensors'), [
      { name: 'a', dtype: 'F32', shape: [2, 3], data: bytes(a32) },
      { name: 'b', dtype: 'F16', shape: [6], data: bytes(float32ToFloat16(a32)) },
      { name: 'c', dtype: 'BF16', shape: [3, 2], data: bytes(float32ToBfloat16(a32)) },
    ]);
    const ck = await SafetensorsCheckpoint.open(dir);
    try {
      expect(ck.entry('a')).toMatchObject({ dtype: 'F32', shape: [2, 3], byteLength: 24 });
      // these values are exact in every one of the three types
      for (const n of ['a', 'b', 'c']) expect(Array.from(await ck.readFloat32(n))).toEqual(Array.from(a32));
      await expect(ck.readFloat32('a', [3, 2])).rejects.toThrow(/shape \[2,3\], expected \[3,2\]/);
      expect(() => ck.entry('zzz')).toThrow(/"zzz" is not in the checkpoint/);
    } finally {
      await ck.close();
    }
  });

  it('reads sharded checkpoints through model.safetensors.index.json', async () => {
    const dir = await folder('sharded');
    await writeSafetensors(join(dir, 'model-00001-of-00002.safetensors'), [{ name: 'x', dtype: 'F32', shape: [6], data: bytes(a32) }]);
    await writeSafetensors(join(dir, 'model-00002-of-00002.safetensors'), [{ name: 'y', dtype: 'F16', shape: [2, 3], data: bytes(float32ToFloat16(a32)) }]);
    writeFileSync(
      join(dir, 'model.safetensors.index.json'),
      JSON.stringify({ metadata: {}, weight_map: { x: 'model-00001-of-00002.safetensors', y: 'model-00002-of-00002.safetensors' } }),
    );
    const ck = await SafetensorsCheckpoint.open(dir);
    try {
      expect([...ck.entries.keys()].sort()).toEqual(['x', 'y']);
      expect(Array.from(await ck.readFloat32('y'))).toEqual(Array.from(a32));
      expect(ck.entry('y').file).toMatch(/00002-of-00002/);
    } finally {
      await ck.close();
    }
  });

  it('an index naming a missing shard, or a path outside the folder, is refused', async () => {
    const dir = await folder('bad-index');
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { x: 'model-00001-of-00002.safetensors' } }));
    await expect(SafetensorsCheckpoint.open(dir)).rejects.toThrow(/lists shard model-00001-of-00002\.safetensors, which is missing/);
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { x: '../elsewhere.safetensors' } }));
    await expect(SafetensorsCheckpoint.open(dir)).rejects.toThrow(/must be a plain file name in the model folder/);
  });

  it('a truncated file is a clear error, not a short read', async () => {
    const dir = await folder('truncated');
    const full = encodeSafetensors([{ name: 'w', dtype: 'F32', shape: [6], data: bytes(a32) }]);
    writeFileSync(join(dir, 'model.safetensors'), full.subarray(0, full.length - 4));
    await expect(SafetensorsCheckpoint.open(dir)).rejects.toThrow(/"w" ends at byte \d+ but the file has \d+ bytes: the file is truncated/);
    writeFileSync(join(dir, 'model.safetensors'), full.subarray(0, 20));
    await expect(readSafetensorsHeader(join(dir, 'model.safetensors'))).rejects.toThrow(/header claims \d+ bytes but the file has 20/);
  });

  it('a dtype that does not match the data size is refused', async () => {
    const dir = await folder('mismatch');
    const good = encodeSafetensors([{ name: 'w', dtype: 'F32', shape: [6], data: bytes(a32) }]);
    const headerLen = Number(new DataView(good.buffer).getBigUint64(0, true));
    const header = new TextDecoder().decode(good.subarray(8, 8 + headerLen)).replace('"F32"', '"F16"');
    const bad = new Uint8Array(good);
    bad.set(new TextEncoder().encode(header), 8);
    writeFileSync(join(dir, 'model.safetensors'), bad);
    await expect(SafetensorsCheckpoint.open(dir)).rejects.toThrow(/"w" \(F16 \[6\]\) has data_offsets \[0, 24\] spanning 24 bytes, expected 12/);
  });

  it('integer tensors are refused where floats are expected; missing folders are named', async () => {
    const dir = await folder('ints');
    await writeSafetensors(join(dir, 'model.safetensors'), [{ name: 'i', dtype: 'I64', shape: [2], data: bytes(BigInt64Array.from([1n, 2n])) }]);
    const ck = await SafetensorsCheckpoint.open(dir);
    await expect(ck.readFloat32('i')).rejects.toThrow(/"i" is I64, expected a floating type/);
    await ck.close();
    await expect(SafetensorsCheckpoint.open(join(tmp.dir, 'empty-nothing'))).rejects.toThrow(/neither model\.safetensors nor model\.safetensors\.index\.json/);
  });

  it('reads the test-bed checkpoint header (HF-written file)', async () => {
    const { entries } = await readSafetensorsHeader(join(fixtures.tinyHf, 'model.safetensors'));
    const q = entries.find((e) => e.name === 'model.layers.0.self_attn.q_proj.weight');
    expect(q).toMatchObject({ dtype: 'F16', shape: [256, 256] });
    expect(entries).toHaveLength(2 + 6 * 9 + 1);
    // sanity: the first bytes of the file are the little-endian header length
    expect(readFileSync(join(fixtures.tinyHf, 'model.safetensors')).readBigUInt64LE(0)).toBeGreaterThan(0n);
  });
});
