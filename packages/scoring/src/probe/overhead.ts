/**
 * Benchmark hook: time the probe forward against the plain forward over the same token rows, same
 * EP, same batch size. Not a test (timings vary); the benchmark script prints it.
 */
import { loadModel, type ModelSpec } from '@llm-bip/onnx-io';
import { chunk, createSession, forwardFeeds, makeTokenBatch, type EpChoice, type Session } from '@llm-bip/runtime';
import { llmBip } from '../criteria/llm-bip.js';
import { baseTaps, uniqueTaps } from '../statistics.js';
import type { Tap } from '../types.js';
import { modelWeights } from '../weights.js';
import { buildProbe } from './build-probe.js';
import { probeFeeds } from './feeds.js';
import { writeProbeFile } from './probe-file.js';

export interface ProbeOverhead {
  ep: string;
  /** median seconds of one pass over all rows */
  plainSeconds: number;
  probeSeconds: number;
  /** probe / plain */
  ratio: number;
  repeats: number;
  tokens: number;
}

/**
 * `taps` default: everything the llm-bip criterion (lipschitz head term) reads, plus the base taps.
 * The plain forward computes the logits; the probe does not (it does not need them).
 */
export async function probeOverhead(
  modelPath: string,
  tokens: number[][],
  ep: EpChoice,
  opts: { spec: ModelSpec; taps?: Tap[]; batchSize?: number; repeats?: number; threads?: number },
): Promise<ProbeOverhead> {
  const taps = uniqueTaps([...baseTaps(opts.spec), ...(opts.taps ?? llmBip.taps(opts.spec))]);
  const loaded = await loadModel(modelPath);
  const probe = await buildProbe(loaded.model, opts.spec, taps, modelWeights(loaded.model, loaded.dir));
  const file = await writeProbeFile(probe.model, loaded.dir);
  const sessOpts = { ep, ...(opts.threads ? { threads: opts.threads } : {}) };
  const batches = chunk(tokens, opts.batchSize ?? 8).map((rows) => makeTokenBatch(rows));
  const repeats = opts.repeats ?? 5;
  const timeAll = async (s: Session, outputs?: string[]): Promise<number> => {
    const t0 = performance.now();
    for (const b of batches) await s.run(outputs ? probeFeeds(s, opts.spec, b) : forwardFeeds(s, b, { numKvHeads: opts.spec.layers[0]?.numKvHeads, headDim: opts.spec.layers[0]?.headDim }), outputs);
    return (performance.now() - t0) / 1000;
  };
  try {
    const plain = await createSession(modelPath, sessOpts);
    const probed = await createSession(file.path, sessOpts);
    try {
      const names = probe.outputs.map((o) => o.output);
      await timeAll(plain);
      await timeAll(probed, names); // warm-up
      const p: number[] = [];
      const q: number[] = [];
      // interleave so drifts in machine load hit both alike
      for (let r = 0; r < repeats; r++) {
        p.push(await timeAll(plain));
        q.push(await timeAll(probed, names));
      }
      const plainSeconds = median(p);
      const probeSeconds = median(q);
      return { ep: probed.ep, plainSeconds, probeSeconds, ratio: probeSeconds / plainSeconds, repeats, tokens: tokens.length * (tokens[0]?.length ?? 0) };
    } finally {
      await plain.release();
      await probed.release();
    }
  } finally {
    await file.cleanup();
  }
}

function median(x: number[]): number {
  const s = [...x].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
