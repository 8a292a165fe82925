/**
 * Benchmark (not a test): wall time and peak RSS of pruning a model with @llm-bip/surgery, against a
 * plain copy of its weight file. Each measured step runs in its own child process, so its peak RSS
 * (process.resourceUsage().maxRSS) is that step alone; a child that only loads the modules gives the
 * baseline.
 *
 *   node --conditions=source --import tsx tooling/scripts/bench-surgery.ts --model path/model.onnx
 *   node --conditions=source --import tsx tooling/scripts/bench-surgery.ts --hf ../shared/testbed/bip-llama-small
 *   node --conditions=source --import tsx tooling/scripts/bench-surgery.ts --synthetic-gib 2.2
 *
 * Options: --ratio 0.2 (fraction of heads/KV groups and channels removed per layer), --repeat 2,
 * --json (one JSON line), --keep (keep the temp folder). The page cache is not dropped: the first
 * step reads from disk, later ones mostly from memory; the order alternates copy/prune per repeat.
 */
import { spawnSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, open, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DATA_LOCATION_EXTERNAL, DataType, ExternalDataWriter, encodeModel, externalDataEntries, externalDataRef, isExternal, loadModel } from '../../packages/onnx-io/src/index.js';
import { PLAN_FORMAT, buildLlamaGraph, exportLlamaToOnnx, normaliseHfConfig, planModelShape, range, recogniseModel, toHfConfigJson, type ModelSpec, type PruningPlan } from '../../packages/model/src/index.js';
import { mulberry32 } from '../../packages/scoring/src/index.js'; // tooling is not a workspace package: import the source
import { pruneModel } from '../../packages/surgery/src/index.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    hf: { type: 'string' },
    'synthetic-gib': { type: 'string' },
    dtype: { type: 'string', default: 'float16' },
    ratio: { type: 'string', default: '0.2' },
    repeat: { type: 'string', default: '2' },
    json: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    child: { type: 'string' },
    args: { type: 'string', multiple: true, default: [] },
  },
});

interface StepResult {
  wallMs: number;
  maxRssMiB: number;
  detail?: Record<string, unknown>;
}

const report = (r: StepResult) => process.stdout.write(`@@result ${JSON.stringify(r)}\n`);
const maxRssMiB = () => process.resourceUsage().maxRSS / 1024;

/** A plan removing `ratio` of each layer's KV groups (whole groups) and channels, chosen by a seeded shuffle. */
function uniformPlan(spec: ModelSpec, ratio: number, seed = 0): PruningPlan {
  const next = mulberry32(seed);
  const pick = (n: number, keep: number) => {
    const idx = range(n);
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(next() * (i + 1));
      [idx[i], idx[j]] = [idx[j]!, idx[i]!];
    }
    return idx.slice(0, keep).sort((x, y) => x - y);
  };
  return {
    format: PLAN_FORMAT,
    model: planModelShape(spec, ''),
    criterion: 'random',
    ratio,
    allocation: 'uniform',
    headGranularity: spec.layers.some((l) => l.numKvHeads !== l.numHeads) ? 'kv-group' : 'head',
    seed,
    layers: spec.layers.map((l) => {
      const rep = l.numHeads / l.numKvHeads;
      const kv = pick(l.numKvHeads, Math.max(1, Math.round((1 - ratio) * l.numKvHeads)));
      return {
        layer: l.index,
        keepKvHeads: kv,
        keepHeads: kv.flatMap((g) => range(rep).map((r) => g * rep + r)),
        keepChannels: pick(l.intermediateSize, Math.max(1, Math.round((1 - ratio) * l.intermediateSize))),
      };
    }),
  };
}

/** A LLaMA graph with 7B-class tensor shapes and deterministic finite weights, streamed to external data. */
async function createSynthetic(dir: string, gib: number, dtype: 'float16' | 'float32'): Promise<string> {
  const hidden = 4096;
  const inter = 11008;
  const vocab = 32000;
  const bytes = dtype === 'float16' ? 2 : 4;
  const perLayer = (hidden * (hidden * 2 + 1024 * 2) + 3 * hidden * inter) * bytes;
  const layers = Math.max(1, Math.ceil((gib * 2 ** 30 - 2 * vocab * hidden * bytes) / perLayer));
  const config = normaliseHfConfig(
    toHfConfigJson({
      modelType: 'llama',
      hiddenSize: hidden,
      intermediateSize: inter,
      numLayers: layers,
      numHeads: 32,
      numKvHeads: 8,
      headDim: 128,
      vocabSize: vocab,
      rmsNormEps: 1e-5,
      ropeTheta: 10000,
      ropeScaling: { kind: 'default' },
      maxPositionEmbeddings: 4096,
      tieWordEmbeddings: false,
      torchDtype: dtype,
    }),
    'synthetic config',
  );
  const { model, weights } = buildLlamaGraph(config, { dtype, kvCache: true });
  const path = join(dir, 'model.onnx');
  const writer = await ExternalDataWriter.create(`${path}.data`);
  try {
    let x = 0x9e3779b9;
    for (const w of weights) {
      const n = w.tensor.dims!.reduce<number>((p, d) => p * Number(d), 1);
      const buf = new Uint8Array(n * bytes);
      if (dtype === 'float16') {
        const h = new Uint16Array(buf.buffer);
        // |w| in [2^-9, 2^-5): exponent 6..9, random sign and mantissa: finite, weight-like
        for (let i = 0; i < n; i++) {
          x ^= x << 13;
          x ^= x >>> 17;
          x ^= x << 5;
          h[i] = (x & 0x8000) | ((6 + ((x >>> 16) & 3)) << 10) | (x & 0x3ff);
        }
      } else {
        const f = new Float32Array(buf.buffer);
        for (let i = 0; i < n; i++) {
          x ^= x << 13;
          x ^= x >>> 17;
          x ^= x << 5;
          f[i] = ((x >>> 0) / 4294967296 - 0.5) * 0.05;
        }
      }
      const placed = await writer.append(buf);
      w.tensor.dataLocation = DATA_LOCATION_EXTERNAL;
      w.tensor.externalData = externalDataEntries({ location: 'model.onnx.data', ...placed });
    }
    await writer.commit();
  } catch (e) {
    await writer.abort();
    throw e;
  }
  const fh = await open(path, 'w');
  await fh.write(encodeModel(model));
  await fh.close();
  return path;
}

/** Userland copy in 8 MiB chunks (what a streaming writer does), without copy_file_range. */
async function streamCopy(src: string, dst: string): Promise<void> {
  const a = await open(src, 'r');
  const b = await open(dst, 'w');
  try {
    const buf = new Uint8Array(8 << 20);
    for (let pos = 0; ; ) {
      const { bytesRead } = await a.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) break;
      await b.write(buf, 0, bytesRead, pos);
      pos += bytesRead;
    }
    await b.datasync();
  } finally {
    await a.close();
    await b.close();
  }
}

async function weightFile(model: string): Promise<string | undefined> {
  const loaded = await loadModel(model, { checkExternalData: false });
  const t = loaded.model.graph!.initializer!.find(isExternal);
  return t ? resolve(loaded.dir, externalDataRef(t).location) : undefined;
}

async function runChild(mode: string, args: string[]): Promise<StepResult> {
  const r = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--child', mode, ...args.flatMap((a) => ['--args', a])], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  const line = r.stdout.split('\n').find((l) => l.startsWith('@@result '));
  if (r.status !== 0 || !line) throw new Error(`child ${mode} failed (status ${r.status}):\n${r.stderr}\n${r.stdout}`);
  return JSON.parse(line.slice('@@result '.length)) as StepResult;
}

if (values.child) {
  const a = values.args;
  const t0 = performance.now();
  let detail: Record<string, unknown> | undefined;
  switch (values.child) {
    case 'noop':
      break;
    case 'synthetic':
      detail = { model: await createSynthetic(a[0]!, Number(a[1]), a[2] as 'float16' | 'float32') };
      break;
    case 'export':
      detail = { model: (await exportLlamaToOnnx(a[0]!, a[1]!, { dtype: a[2] as 'float16' | 'float32', kvCache: true, externalData: true })).onnxPath };
      break;
    case 'copy':
      await streamCopy(a[0]!, a[1]!);
      break;
    case 'copyfile':
      await copyFile(a[0]!, a[1]!);
      break;
    case 'prune': {
      const loaded = await loadModel(a[0]!);
      const spec = recogniseModel(loaded.model);
      const plan = uniformPlan(spec, Number(a[2]));
      const t1 = performance.now();
      const r = await pruneModel({ model: loaded, spec, plan, outPath: a[1]! });
      detail = {
        loadAndRecogniseMs: t1 - t0,
        bytesWritten: r.bytesWritten,
        parametersBefore: r.record.parameters.before.total,
        parametersAfter: r.record.parameters.after.total,
        removedFraction: r.record.parameters.removedFraction,
      };
      break;
    }
    default:
      throw new Error(`unknown child mode ${values.child}`);
  }
  report({ wallMs: performance.now() - t0, maxRssMiB: maxRssMiB(), ...(detail ? { detail } : {}) });
  process.exit(0);
}

const work = await mkdtemp(join(tmpdir(), 'bench-surgery-'));
try {
  let model = values.model ? resolve(values.model) : undefined;
  let prepared: StepResult | undefined;
  if (!model && values.hf) {
    await mkdir(join(work, 'src'));
    prepared = await runChild('export', [resolve(values.hf), join(work, 'src', 'model.onnx'), values.dtype!]);
    model = prepared.detail!['model'] as string;
  } else if (!model && values['synthetic-gib']) {
    await mkdir(join(work, 'src'));
    prepared = await runChild('synthetic', [join(work, 'src'), values['synthetic-gib'], values.dtype!]);
    model = prepared.detail!['model'] as string;
  }
  if (!model) throw new Error('pass --model FILE.onnx, --hf HF_FOLDER or --synthetic-gib N');
  const data = await weightFile(model);
  if (!data) throw new Error(`${model} keeps its weights inline; the copy baseline needs an external data file`);
  const dataBytes = (await stat(data)).size;
  const baseline = await runChild('noop', []);
  const rows: Array<{ step: string; run: number } & StepResult> = [];
  const repeat = Number(values.repeat);
  for (let run = 0; run < repeat; run++) {
    const steps = run % 2 === 0 ? ['copy', 'copyfile', 'prune'] : ['prune', 'copy', 'copyfile'];
    for (const step of steps) {
      const out = join(work, `${step}-${run}`);
      await mkdir(out);
      const args = step === 'prune' ? [model, join(out, 'model.onnx'), values.ratio!] : [data, join(out, 'copy.data')];
      rows.push({ step, run, ...(await runChild(step, args)) });
      await rm(out, { recursive: true, force: true });
    }
  }
  const summary = { model, dataBytes, ratio: Number(values.ratio), baselineRssMiB: baseline.maxRssMiB, prepared, rows };
  if (values.json) {
    process.stdout.write(JSON.stringify(summary) + '\n');
  } else {
    const gib = (dataBytes / 2 ** 30).toFixed(3);
    console.log(`model ${model}\nweight file ${gib} GiB; ratio ${values.ratio}; node baseline RSS ${baseline.maxRssMiB.toFixed(0)} MiB (modules loaded, nothing done)`);
    if (prepared) console.log(`(preparing the model took ${(prepared.wallMs / 1000).toFixed(1)} s)`);
    for (const r of rows) {
      const extra = r.detail ? ` ${JSON.stringify(r.detail)}` : '';
      const thr = r.step === 'prune' ? '' : `, ${((dataBytes / 2 ** 20) / (r.wallMs / 1000)).toFixed(0)} MiB/s`;
      console.log(`${r.step.padEnd(8)} run ${r.run}: ${(r.wallMs / 1000).toFixed(2)} s, peak RSS ${r.maxRssMiB.toFixed(0)} MiB${thr}${extra}`);
    }
  }
} finally {
  if (!values.keep) await rm(work, { recursive: true, force: true });
  else console.log(`kept ${work}`);
}
