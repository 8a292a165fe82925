/**
 * Scoring's fixed costs (issue 13 item 3: "scoring <= 2x one plain forward over the calibration tokens"):
 * every phase of `llm-bip score` timed on its own, then the whole step as the CLI runs it, then a plain
 * forward of the same rows, all in one process on one EP. Not a test: it prints a table.
 *
 *   pnpm synthetic-checkpoint --shape llama2-7b --layers 2 --out /tmp/sc-l2
 *   pnpm llm-bip export /tmp/sc-l2 -o /tmp/sc-l2o/model.onnx --kv-cache
 *   node --conditions=source --import tsx tooling/bench/score-costs.ts /tmp/sc-l2o/model.onnx [--samples 16] [--seq-len 128] [--ep cpu] [--json OUT] [--no-host-gram]
 *
 * Phases (each alone, in the order scoreModel runs them): load + recognise; the per-head Gram matrices
 * on the EP from the stored W_o (`headGrams`, weight statistics; buildProbe does it again, so "probe
 * build" includes it; the float64 JavaScript reference `hostHeadGram` is timed beside it unless
 * --no-host-gram); the rest of the probe build; placing the probe file; creating its session; the
 * probe's runs with the host-side accumulation; the spectral norms (one CPU session per matrix, the way
 * before lockstep, unless --no-per-matrix-spectral; then in lockstep on the EP, as scoreModel runs them);
 * the rest of llm-bip's scoring with the norms given: W_down's column norms on the EP from the stored
 * weights (weight statistics, what scoreModel runs), then the way without a compute site (W_down read in
 * JavaScript, as scoreModel did before).
 * Then `scoreModel` end to end (what the CLI calls), and the plain model over the same rows in batches of the same size, logits out
 * (what `llm-bip eval` runs per window), its session creation timed apart. Token ids are seeded uniform
 * draws (the cost does not depend on the text).
 * --spectral-only: load, then the spectral norms per matrix (unless --no-per-matrix-spectral) and in lockstep,
 * with the process's peak RSS before and after the lockstep.
 */
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { loadModel } from '@llm-bip/onnx-io';
import { recogniseModel } from '@llm-bip/model';
import { scoreModel } from '@llm-bip/pipeline';
import { chunk, createSession, forwardFeeds, makeTokenBatch, toFloat32, type EpChoice } from '@llm-bip/runtime';
import {
  baseTaps,
  buildProbe,
  headGrams,
  hostHeadGram,
  llmBip,
  modelWeights,
  mulberry32,
  probeFeeds,
  spectralNorms,
  StatisticsAccumulator,
  uniqueTaps,
  weightStatistics,
  writeProbeFile,
} from '@llm-bip/scoring';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    samples: { type: 'string', default: '16' },
    'seq-len': { type: 'string', default: '128' },
    'batch-size': { type: 'string', default: '8' },
    ep: { type: 'string', default: 'cpu' },
    json: { type: 'string' },
    'no-host-gram': { type: 'boolean', default: false },
    'no-per-matrix-spectral': { type: 'boolean', default: false },
    'spectral-only': { type: 'boolean', default: false },
  },
});
const modelPath = positionals[0];
if (!modelPath) {
  process.stderr.write('usage: score-costs.ts MODEL.onnx [--samples N] [--seq-len L] [--batch-size B] [--ep cpu|cuda|webgpu|auto] [--json OUT] [--no-host-gram] [--no-per-matrix-spectral] [--spectral-only]\n');
  process.exit(2);
}
const samples = Number(values.samples);
const seqLen = Number(values['seq-len']);
const batchSize = Number(values['batch-size']);
const ep = values.ep as EpChoice;

const phases: Array<{ phase: string; seconds: number }> = [];
async function timed<T>(phase: string, f: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  const r = await f();
  const seconds = (performance.now() - t0) / 1000;
  phases.push({ phase, seconds });
  process.stderr.write(`${phase}: ${seconds.toFixed(2)} s\n`);
  return r;
}

const loaded = await timed('load + recognise', async () => loadModel(modelPath));
const spec = recogniseModel(loaded.model);
const vocab = spec.vocabSize;
const rnd = mulberry32(0);
const rows = Array.from({ length: samples }, () => Array.from({ length: seqLen }, () => Math.floor(rnd() * vocab)));
const batches = chunk(rows, batchSize).map((r) => makeTokenBatch(r));
const weights = modelWeights(loaded.model, loaded.dir);
const peakRss = () => process.resourceUsage().maxRSS * 1024;

if (values['spectral-only']) {
  // the spectral phase alone, for its peak resident memory (run under /usr/bin/time -v as well)
  // the previous way first, unless asked not to (a peak-RSS run wants the lockstep alone)
  const perMatrix = values['no-per-matrix-spectral'] ? undefined : await timed('spectral norms, one CPU session per matrix (the previous way)', () => spectralNorms(spec, weights));
  const before = peakRss();
  const lockstep = await timed('spectral norms, lockstep on the EP', () => spectralNorms(spec, weights, { model: loaded, ep, onLog: (l) => process.stderr.write(`${l}\n`) }));
  if (perMatrix) {
    const worst = Math.max(...lockstep.layers.flatMap((l, i) => (['down', 'gate', 'up'] as const).map((k) => Math.abs(l[k] / perMatrix.layers[i]![k] - 1))));
    process.stderr.write(`largest relative difference of the norms, lockstep vs per matrix: ${worst.toExponential(2)}\n`);
  }
  const summary = { model: modelPath, weightType: spec.weightType, ep, phases, peakRssBeforeBytes: before, peakRssAfterBytes: peakRss(), machine: `${cpus().length} x ${cpus()[0]?.model ?? '?'}`, date: new Date().toISOString() };
  console.log(JSON.stringify(summary, null, 2));
  if (values.json) writeFileSync(values.json, JSON.stringify(summary, null, 2) + '\n');
  process.exit(0);
}
const taps = uniqueTaps([...baseTaps(spec), ...llmBip.taps(spec, { headTerm: 'lipschitz' })]);

if (!values['no-host-gram']) {
  await timed('head Gram matrices, float64 JavaScript (the reference; not in the probe build)', async () => {
    for (const l of spec.layers) await hostHeadGram(l, weights);
  });
}
const site = { model: loaded, ep };
await timed('head Gram matrices on the EP (weight statistics, all layers; inside the probe build)', () => headGrams(spec, spec.layers, site));
const probe = await timed('probe build (with the Gram matrices)', () => buildProbe(loaded.model, spec, taps, site));
const file = await timed('probe file', () => writeProbeFile(probe.model, loaded.dir));
let statistics;
try {
  const session = await timed('probe session', () => createSession(file, { ep }));
  try {
    const acc = new StatisticsAccumulator(taps);
    const names = probe.outputs.map((o) => o.output);
    let accSeconds = 0;
    await timed(`probe runs (${batches.length} batches of ${batchSize} x ${seqLen}, with accumulation)`, async () => {
      for (const b of batches) {
        const result = await session.run(probeFeeds(session, spec, b), names);
        const t0 = performance.now();
        const outputs: Record<string, Float32Array> = {};
        for (const o of probe.outputs) outputs[o.key] = toFloat32(result[o.output]!);
        acc.addBatch(b.batch, seqLen, outputs);
        accSeconds += (performance.now() - t0) / 1000;
      }
    });
    phases.push({ phase: '  of which host accumulation', seconds: accSeconds });
    statistics = acc.result(session.ep);
  } finally {
    await session.release();
  }
} finally {
  await file.cleanup();
}
if (!values['no-per-matrix-spectral']) await timed('spectral norms, one CPU session per matrix (the previous way)', () => spectralNorms(spec, weights));
const norms = await timed('spectral norms, lockstep on the EP (what scoreModel runs)', () => spectralNorms(spec, weights, { model: loaded, ep }));
await timed('W_down column norms on the EP (weight statistics; inside llm-bip scores)', () =>
  weightStatistics(spec, site, spec.layers.map((l) => ({ layer: l.index, kind: 'inputSquares' as const, projection: 'down' as const }))),
);
await timed('llm-bip scores (norms given; W_down column norms on the EP, what scoreModel runs)', () => llmBip.score(statistics, weights, spec, { headTerm: 'lipschitz', spectralNorms: norms }, { compute: site }));
// the way before (and without a compute site): the before/after of W_down's norms in one run
await timed('llm-bip scores (norms given; W_down read in JavaScript, the path without a compute site)', () => llmBip.score(statistics, weights, spec, { headTerm: 'lipschitz', spectralNorms: norms }));

const calibration = { rows, samples, seqLen, seed: 0, source: 'seeded uniform token ids' };
const scoreSeconds = (await timed('scoreModel end to end (collect + llm-bip)', () => scoreModel({ loaded, spec }, { criterion: 'llm-bip', calibration, ep, batchSize })), phases.at(-1)!.seconds);

const plain = await timed('plain model session', () => createSession(loaded.path, { ep }));
let forwardSeconds: number;
try {
  const logits = plain.outputNames.find((n) => n === 'logits') ?? plain.outputNames[0]!;
  const kv = { numKvHeads: spec.layers[0]!.numKvHeads, headDim: spec.layers[0]!.headDim };
  forwardSeconds = (
    await timed('plain forward (same batches, logits out)', async () => {
      for (const b of batches) await plain.run(forwardFeeds(plain, b, kv), [logits]);
    }),
    phases.at(-1)!.seconds
  );
} finally {
  await plain.release();
}

const tokens = samples * seqLen;
const summary = {
  model: modelPath,
  shape: { layers: spec.numLayers, hidden: spec.hiddenSize, heads: spec.layers[0]!.numHeads, ffn: spec.layers[0]!.intermediateSize, weightType: spec.weightType },
  ep,
  tokens,
  batchSize,
  machine: `${cpus().length} x ${cpus()[0]?.model ?? '?'}`,
  date: new Date().toISOString(),
  phases,
  plainTokensPerSecond: tokens / forwardSeconds,
  scoreOverForward: scoreSeconds / forwardSeconds,
};
console.log(`| phase | seconds |\n|---|---:|`);
for (const p of phases) console.log(`| ${p.phase} | ${p.seconds.toFixed(2)} |`);
console.log(`\n${tokens} tokens; plain forward ${summary.plainTokensPerSecond.toFixed(0)} tok/s; scoreModel / plain forward = ${summary.scoreOverForward.toFixed(2)}x`);
if (values.json) writeFileSync(values.json, JSON.stringify(summary, null, 2) + '\n');
