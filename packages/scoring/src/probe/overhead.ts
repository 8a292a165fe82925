/**
 * Benchmark hook: time the probe forward against the plain forward over the same token rows, same
 * EP, same batch size. Not a test (timings vary); the benchmark script prints it.
 *
 * Two probe variants are timed: the probe as collection runs it (tap outputs only: the final norm
 * and lm_head are pruned away, since nothing needs the logits), and the probe that also keeps the
 * model's own outputs (the like-for-like cost of the taps on top of a full forward).
 */
import { loadModel } from '@llm-bip/onnx-io';
import { recogniseModel, type ModelSpec } from '@llm-bip/model';
import { chunk, createSession, forwardFeeds, makeTokenBatch, type EpChoice, type Session } from '@llm-bip/runtime';
import { llmBip } from '../criteria/llm-bip.js';
import { baseTaps, uniqueTaps } from '../statistics.js';
import type { Tap } from '../types.js';
import { buildProbe } from './build-probe.js';
import { batchSizeFor } from './collect.js';
import { probeFeeds } from './feeds.js';
import { writeProbeFile, type ProbeFile } from './probe-file.js';

export interface ProbeOverhead {
  ep: string;
  /** median seconds of one pass over all rows */
  plainSeconds: number;
  probeSeconds: number;
  probeWithLogitsSeconds: number;
  /** probe / plain */
  ratio: number;
  /** (probe keeping the model's outputs) / plain */
  ratioWithLogits: number;
  /** the same two ratios from the fastest pass of each */
  ratioOfMinima: number;
  ratioWithLogitsOfMinima: number;
  /** the same two ratios in process CPU time (user + system; robust when other processes share the CPU) */
  cpuRatio: number;
  cpuRatioWithLogits: number;
  repeats: number;
  tokens: number;
  batchSize: number;
}

export interface ProbeOverheadOptions {
  /** default: recognised from the model */
  spec?: ModelSpec;
  /** default: what llm-bip (lipschitz head term) reads, plus the base taps */
  taps?: Tap[];
  batchSize?: number;
  repeats?: number;
  threads?: number;
}

export async function probeOverhead(modelPath: string, tokens: number[][], ep: EpChoice, opts: ProbeOverheadOptions = {}): Promise<ProbeOverhead> {
  const loaded = await loadModel(modelPath);
  const spec = opts.spec ?? recogniseModel(loaded.model);
  const taps = uniqueTaps([...baseTaps(spec), ...(opts.taps ?? llmBip.taps(spec))]);
  const files: ProbeFile[] = [];
  const sessions: Session[] = [];
  try {
    const site = { model: loaded, ep, ...(opts.threads ? { threads: opts.threads } : {}) };
    const probe = await buildProbe(loaded.model, spec, taps, site);
    const full = await buildProbe(loaded.model, spec, taps, site, { keepModelOutputs: true });
    files.push(await writeProbeFile(probe.model, loaded.dir), await writeProbeFile(full.model, loaded.dir));
    const sessOpts = { ep, ...(opts.threads ? { threads: opts.threads } : {}) };
    const plain = await createSession(modelPath, sessOpts);
    sessions.push(plain);
    const probed = await createSession(files[0]!, sessOpts);
    sessions.push(probed);
    const probedFull = await createSession(files[1]!, sessOpts);
    sessions.push(probedFull);
    const batchSize = batchSizeFor(plain, spec, tokens.length, tokens[0]?.length ?? 0, opts.batchSize ?? 8);
    const batches = chunk(tokens, batchSize).map((rows) => makeTokenBatch(rows));
    const kv = { numKvHeads: spec.layers[0]?.numKvHeads, headDim: spec.layers[0]?.headDim };
    const names = probe.outputs.map((o) => o.output);
    const runPlain = async () => {
      for (const b of batches) await plain.run(forwardFeeds(plain, b, kv));
    };
    const runProbe = async () => {
      for (const b of batches) await probed.run(probeFeeds(probed, spec, b), names);
    };
    const runFull = async () => {
      for (const b of batches) await probedFull.run(forwardFeeds(probedFull, b, kv));
    };
    const cpu: number[][] = [[], [], []];
    const time = async (f: () => Promise<void>, slot?: number) => {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      await f();
      const c = process.cpuUsage(c0);
      if (slot !== undefined) cpu[slot]!.push((c.user + c.system) / 1e6);
      return (performance.now() - t0) / 1000;
    };
    for (const f of [runPlain, runProbe, runFull]) await f(); // warm-up
    const repeats = opts.repeats ?? 5;
    const t: number[][] = [[], [], []];
    // interleaved, so drifts in machine load hit all three alike
    for (let r = 0; r < repeats; r++) {
      t[0]!.push(await time(runPlain, 0));
      t[1]!.push(await time(runProbe, 1));
      t[2]!.push(await time(runFull, 2));
    }
    const [plainSeconds, probeSeconds, probeWithLogitsSeconds] = t.map(median) as [number, number, number];
    const [plainMin, probeMin, fullMin] = t.map((x) => Math.min(...x)) as [number, number, number];
    const [plainCpu, probeCpu, fullCpu] = cpu.map(median) as [number, number, number];
    return {
      ep: probed.ep,
      plainSeconds,
      probeSeconds,
      probeWithLogitsSeconds,
      ratio: probeSeconds / plainSeconds,
      ratioWithLogits: probeWithLogitsSeconds / plainSeconds,
      ratioOfMinima: probeMin / plainMin,
      ratioWithLogitsOfMinima: fullMin / plainMin,
      cpuRatio: probeCpu / plainCpu,
      cpuRatioWithLogits: fullCpu / plainCpu,
      repeats,
      tokens: tokens.length * (tokens[0]?.length ?? 0),
      batchSize,
    };
  } finally {
    for (const s of sessions) await s.release();
    for (const f of files) await f.cleanup();
  }
}

function median(x: number[]): number {
  const s = [...x].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
