import { existsSync, readdirSync, rmSync, truncateSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir, writeTinyHfCheckpoint } from '@llm-bip/testing';
import { checkpointKey, exportCached } from './export-cache.js';

const tmp = tempDir('pipeline-export-cache-');
afterAll(tmp.cleanup);
const shape = { seed: 2, hiddenSize: 32, numLayers: 2, numHeads: 4, numKvHeads: 2, intermediateSize: 40, vocabSize: 64 };

describe('exportCached', () => {
  it('exports once per content and options; a partial or truncated entry is rebuilt', async () => {
    const hf = join(tmp.dir, 'hf');
    await writeTinyHfCheckpoint(shape, hf, 'float32');
    const cache = join(tmp.dir, 'cache');
    const logs: string[] = [];
    const hooks = { log: (l: string) => void logs.push(l) };
    const first = await exportCached(hf, cache, { dtype: 'float32', kvCache: false }, hooks);
    expect(first.reused).toBe(false);
    expect(logs).toEqual([]);
    const second = await exportCached(hf, cache, { dtype: 'float32', kvCache: false }, hooks);
    expect(second).toEqual({ ...first, reused: true });
    expect(logs).toEqual([`export: reusing the cached ONNX export of ${hf} (${join(cache, 'exports', first.key)})`]);

    // other export options are another entry
    const kv = await exportCached(hf, cache, { dtype: 'float32', kvCache: true });
    expect(kv.key).not.toBe(first.key);
    expect(kv.reused).toBe(false);

    // a crash between writing and entry.json: no entry.json -> rebuilt
    rmSync(join(cache, 'exports', first.key, 'entry.json'));
    const rebuilt = await exportCached(hf, cache, { dtype: 'float32', kvCache: false });
    expect(rebuilt.reused).toBe(false);
    const size = statSync(rebuilt.onnxPath).size;
    // a truncated model file -> rebuilt to its full size
    truncateSync(rebuilt.onnxPath, 100);
    const again = await exportCached(hf, cache, { dtype: 'float32', kvCache: false });
    expect(again.reused).toBe(false);
    expect(statSync(again.onnxPath).size).toBe(size);
    // no staging folders left behind
    expect(readdirSync(join(cache, 'exports')).filter((n) => n.startsWith('.tmp-'))).toEqual([]);
    expect(existsSync(join(cache, 'exports', first.key, 'entry.json'))).toBe(true);
  });

  it('the key follows the weights: another seed (same shapes, same config) is another key', async () => {
    const a = join(tmp.dir, 'a');
    const b = join(tmp.dir, 'b');
    await writeTinyHfCheckpoint(shape, a, 'float32');
    await writeTinyHfCheckpoint({ ...shape, seed: 3 }, b, 'float32');
    const opts = { dtype: 'float32' as const, kvCache: false };
    expect(await checkpointKey(a, opts)).toBe(await checkpointKey(join(tmp.dir, 'hf'), opts));
    expect(await checkpointKey(b, opts)).not.toBe(await checkpointKey(a, opts));
  });
});
