import { existsSync } from 'node:fs';
import { chmod, cp, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fixtures, tempDir } from '@llm-bip/testing';
import { loadModel } from '@llm-bip/onnx-io';
import { recogniseModel } from '@llm-bip/model';
import { createSession, makeTokenBatch } from '@llm-bip/runtime';
import { tinyCase } from '../tiny-models.testutil.js';
import { listCriteria } from '../criteria/registry.js';
import { baseTaps, uniqueTaps } from '../statistics.js';
import { buildProbe, PROBE_OUTPUT_PREFIX } from './build-probe.js';
import { probeFeeds } from './feeds.js';
import { writeProbeFile } from './probe-file.js';

const tmp = tempDir('scoring-build-probe-');
afterAll(tmp.cleanup);

describe('buildProbe', () => {
  it('outputs only small per-row reductions; the logits and lm_head are gone; the original is untouched', async () => {
    const c = await tinyCase(tmp.dir, 'm', { seed: 5, hiddenSize: 32, numLayers: 2, numHeads: 4, numKvHeads: 2, intermediateSize: 40, vocabSize: 64 }, 'float32', true);
    const loaded = await loadModel(c.onnxPath);
    const before = JSON.stringify(loaded.model.graph!.output);
    const nodesBefore = loaded.model.graph!.node!.length;
    const taps = uniqueTaps([...baseTaps(c.spec), ...listCriteria().flatMap((k) => k.taps(c.spec))]);
    const probe = await buildProbe(loaded.model, c.spec, taps, { model: loaded, ep: 'cpu' });
    expect(JSON.stringify(loaded.model.graph!.output)).toBe(before);
    expect(loaded.model.graph!.node!.length).toBe(nodesBefore);
    expect(probe.model.graph!.output!.map((o) => o.name)).toEqual(probe.outputs.map((o) => o.output));
    expect(probe.outputs.every((o) => o.output.startsWith(PROBE_OUTPUT_PREFIX))).toBe(true);
    expect(probe.model.graph!.node!.some((n) => n.name === '/lm_head/MatMul')).toBe(false);

    const file = await writeProbeFile(probe.model, loaded.dir);
    try {
      const session = await createSession(file.path, { ep: 'cpu' });
      const batch = makeTokenBatch([[1, 2, 3, 4, 5, 6, 7], [7, 6, 5, 4, 3, 2, 1], [9, 9, 9, 9, 9, 9, 9]]);
      const out = await session.run(probeFeeds(session, c.spec, batch));
      const widest = Math.max(40, 4 * 8);
      for (const o of probe.outputs) {
        const t = out[o.output]!;
        expect(t.dims[0], o.key).toBe(3);
        expect(t.size / 3, o.key).toBeLessThanOrEqual(widest); // never a per-token tensor
      }
      await session.release();
    } finally {
      await file.cleanup();
    }
    expect(existsSync(file.path)).toBe(false);
  });

  it('loads probes of external-data models from memory: nothing is written to the model folder, which may be read-only', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'scoring-genai-'));
    try {
      await cp(join(fixtures.genai, '..'), dir, { recursive: true });
      const loaded = await loadModel(join(dir, 'model.onnx'));
      const spec = recogniseModel(loaded.model);
      const probe = await buildProbe(loaded.model, spec, baseTaps(spec), { model: loaded, ep: 'cpu' });
      const listing = (await readdir(dir)).sort();
      await chmod(dir, 0o555);
      try {
        const file = await writeProbeFile(probe.model, loaded.dir);
        expect(file.placement).toBe('memory');
        const session = await createSession(file, { ep: 'cpu' });
        const out = await session.run(probeFeeds(session, spec, makeTokenBatch([[1, 5, 9, 13]])));
        expect(Object.keys(out).length).toBe(probe.outputs.length);
        await session.release();
        await file.cleanup();
      } finally {
        await chmod(dir, 0o755);
      }
      expect((await readdir(dir)).sort()).toEqual(listing);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
