/**
 * Spectral-norm benchmark (issue 13 item 2): the old method (Lanczos, float64 host products,
 * tolerance 1e-9) against the default (float32 ORT products, tolerance 1e-6), side by side in one run.
 *
 *   node --conditions=source --import tsx tooling/bench/spectral.ts 7b        one LLaMA-2-7B layer (seeded fp16 weights)
 *   node --conditions=source --import tsx tooling/bench/spectral.ts testbed   bip-llama-tiny, bip-llama-small: norms, scores, plans
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataType, loadModel, writeDerivedModelFile, type ModelProto } from '@llm-bip/onnx-io';
import { exportLlamaToOnnx, planModelShape, recogniseModel } from '@llm-bip/model';
import { createSession, float16ToFloat32, float32ToFloat16, ort } from '@llm-bip/runtime';
import {
  collectStatistics,
  getCriterion,
  makePlan,
  mulberry32,
  spectralNormEstimate,
  spectralNorms,
  modelWeights,
  type LinearWeight,
  type PowerIterationOptions,
  type SpectralNorms,
} from '@llm-bip/scoring';

const OLD: PowerIterationOptions = { products: 'host', tolerance: 1e-9 };
const NEW: PowerIterationOptions = {};
const LOOSE: PowerIterationOptions = { tolerance: 1e-4 };

const relDiff = (a: number, b: number): number => Math.abs(a - b) / Math.abs(b);

/** Seeded fp16-rounded weights, N(0, 0.02)-like scale (uniform), canonical [in][out]. */
function fp16Matrix(inF: number, outF: number, seed: number): LinearWeight {
  const r = mulberry32(seed);
  const data = new Float32Array(inF * outF);
  for (let i = 0; i < data.length; i++) data[i] = (r() - 0.5) * 0.07;
  return { inFeatures: inF, outFeatures: outF, data: float16ToFloat32(float32ToFloat16(data)) };
}

async function sevenB(): Promise<void> {
  const hidden = 4096;
  const inter = 11008;
  const rows: string[] = [];
  let oldMs = 0;
  let newMs = 0;
  let forwardMs = 0;
  for (const [name, inF, outF, seed] of [
    ['gate', hidden, inter, 1],
    ['up', hidden, inter, 2],
    ['down', inter, hidden, 3],
  ] as const) {
    const w = fp16Matrix(inF, outF, seed);
    const t0 = performance.now();
    const o = await spectralNormEstimate(w, OLD);
    const t1 = performance.now();
    const n = await spectralNormEstimate(w, NEW);
    const t2 = performance.now();
    const l = await spectralNormEstimate(w, LOOSE);
    const t3 = performance.now();
    const f = await ffnMatMulMs(w);
    oldMs += t1 - t0;
    newMs += t2 - t1;
    forwardMs += f * 128;
    const cell = (ms: number, e: { products: number; norm: number }) => `${(ms / 1000).toFixed(1)} s (${e.products}), ${relDiff(e.norm, o.norm).toExponential(1)}`;
    rows.push(`| ${name} [${inF} x ${outF}] | ${((t1 - t0) / 1000).toFixed(1)} s (${o.products}) | ${cell(t2 - t1, n)} | ${cell(t3 - t2, l)} | ${((f * 128) / 1000).toFixed(1)} s |`);
    console.error(`${name}: old ${o.norm} new ${n.norm}`);
  }
  console.log(
    '| matrix | old: host float64, tol 1e-9 (products) | new: ORT float32, tol 1e-6 (products), rel. diff | ORT float32, tol 1e-4 | its MatMul over 128 x 128 tokens |\n|---|---:|---:|---:|---:|',
  );
  for (const r of rows) console.log(r);
  console.log(`| one layer | ${(oldMs / 1000).toFixed(1)} s | ${(newMs / 1000).toFixed(1)} s (old/new ${(oldMs / newMs).toFixed(1)}x) | | ${(forwardMs / 1000).toFixed(1)} s |`);
  console.log(`| 32 layers (x32) | ${((oldMs * 32) / 60000).toFixed(1)} min | ${((newMs * 32) / 60000).toFixed(1)} min | | ${((forwardMs * 32) / 60000).toFixed(1)} min |`);
  console.log(`spectral step / (spectral step + FFN MatMuls of the calibration forward): old ${((100 * oldMs) / (oldMs + forwardMs)).toFixed(0)} %, new ${((100 * newMs) / (newMs + forwardMs)).toFixed(1)} %`);
}

/** One calibration batch's MatMul with this weight (128 tokens, ORT CPU EP, all cores), median of 3, ms. */
async function ffnMatMulMs(w: LinearWeight): Promise<number> {
  const vi = (name: string, dims: number[]) => ({ name, type: { tensorType: { elemType: DataType.FLOAT, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } });
  const model = {
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'ffn_matmul',
      node: [{ opType: 'MatMul', name: 'mm', input: ['x', 'w'], output: ['y'] }],
      input: [vi('x', [128, w.inFeatures]), vi('w', [w.inFeatures, w.outFeatures])],
      output: [vi('y', [128, w.outFeatures])],
    },
  } as ModelProto;
  const file = await writeDerivedModelFile(model, '.', { prefix: '.llm-bip-bench-' });
  const session = await createSession(file.path, { ep: 'cpu' });
  await file.cleanup();
  const x = new ort.Tensor('float32', new Float32Array(128 * w.inFeatures).fill(0.01), [128, w.inFeatures]);
  const wt = new ort.Tensor('float32', w.data, [w.inFeatures, w.outFeatures]);
  const times: number[] = [];
  for (let r = 0; r < 3; r++) {
    const t0 = performance.now();
    await session.run({ x, w: wt });
    times.push(performance.now() - t0);
  }
  await session.release();
  return times.sort((a, b) => a - b)[1]!;
}

function worst(a: SpectralNorms, b: SpectralNorms): number {
  let w = 0;
  a.layers.forEach((l, i) => {
    const r = b.layers[i]!;
    for (const k of ['down', 'gate', 'up'] as const) w = Math.max(w, relDiff(l[k], r[k]));
  });
  return w;
}

async function testbed(): Promise<void> {
  const tokens: number[][] = [];
  const r = mulberry32(0);
  const dir = await mkdtemp(join(tmpdir(), 'spectral-bench-'));
  try {
    for (const model of ['bip-llama-tiny', 'bip-llama-small']) {
      const onnxPath = join(dir, `${model}.onnx`);
      await exportLlamaToOnnx(join('..', 'shared', 'testbed', model), onnxPath, { dtype: 'float32', kvCache: false });
      const loaded = await loadModel(onnxPath);
      const spec = recogniseModel(loaded.model);
      const weights = modelWeights(loaded.model, loaded.dir);
      const t0 = performance.now();
      const oldNorms = await spectralNorms(spec, weights, OLD);
      const t1 = performance.now();
      const newNorms = await spectralNorms(spec, weights, NEW);
      const t2 = performance.now();
      console.log(
        `${model}: spectral step old ${((t1 - t0) / 1000).toFixed(2)} s, new ${((t2 - t1) / 1000).toFixed(2)} s (${((t1 - t0) / (t2 - t1)).toFixed(1)}x); max rel. diff of the norms ${worst(newNorms, oldNorms).toExponential(2)}`,
      );
      // 16 x 128 seeded token ids: the plans' sensitivity to the norms, not a quality calibration
      if (tokens.length === 0) for (let i = 0; i < 16; i++) tokens.push(Array.from({ length: 128 }, () => 1 + Math.floor(r() * (spec.vocabSize - 1))));
      const bip = getCriterion('llm-bip');
      const stats = await collectStatistics({ modelPath: onnxPath, spec, taps: bip.taps(spec), rows: tokens, batchSize: 8, ep: 'cpu' });
      const oldScores = await bip.score(stats, weights, spec, { spectralNorms: oldNorms });
      const newScores = await bip.score(stats, weights, spec, { spectralNorms: newNorms });
      let scoreDiff = 0;
      oldScores.layers.forEach((l, i) => l.heads!.forEach((h, j) => (scoreDiff = Math.max(scoreDiff, relDiff(newScores.layers[i]!.heads![j]!, h)))));
      console.log(`${model}: max rel. diff of the llm-bip head scores ${scoreDiff.toExponential(2)}`);
      for (const ratio of [0.2, 0.5]) {
        const shape = planModelShape(spec, '');
        const a = makePlan(oldScores, shape, { ratio, allocation: 'global-kind' });
        const b = makePlan(newScores, shape, { ratio, allocation: 'global-kind' });
        console.log(`${model}: global-kind ${ratio * 100} %: plans ${JSON.stringify(a.layers) === JSON.stringify(b.layers) ? 'identical' : 'DIFFER'}`);
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const what = process.argv[2];
if (what === '7b') await sevenB();
else if (what === 'testbed') await testbed();
else throw new Error('usage: spectral.ts 7b | testbed');
