/**
 * Measurement (not a test): resident memory of one onnxruntime-node CPU session on a model, with the
 * session options given as JSON, after creation and after each of three runs of a batch of 128-token
 * windows (seeded ids). RSS is split into anonymous and file-backed pages (/proc/self/status): ORT maps
 * external weights it keeps as they are, and copies those it converts. Used for BENCHMARKS.md
 * "Evaluation memory on fp16 models"; run one process per setting (peak RSS is per process).
 *
 *   node --conditions=source --import tsx tooling/scripts/ort-fp16-memory.ts MODEL.onnx '{"enableCpuMemArena":false}' [BATCH=2]
 */
import { readFileSync } from 'node:fs';
import { ort } from '../../packages/runtime/src/ort.js'; // tooling is not a workspace package: import the source
const [model, optsJson, batchS] = process.argv.slice(2);
if (!model) throw new Error("usage: ort-fp16-memory.ts MODEL.onnx '{session options as JSON}' [BATCH]");
const o = JSON.parse(optsJson ?? '{}');
const batch = Number(batchS ?? 2);
const seq = 128;
/** Current RSS in MiB, and its anonymous and file-backed parts. */
const mib = () => {
  const st = readFileSync('/proc/self/status', 'utf8');
  const g = (k: string) => Math.round(Number(new RegExp(k + ':\\s+(\\d+)').exec(st)![1]) / 1024);
  return `${g('VmRSS')} (anon ${g('RssAnon')} file ${g('RssFile')})`;
};
const peak = () => (process.resourceUsage().maxRSS / 1024).toFixed(0);
const t0 = performance.now();
const s = await ort.InferenceSession.create(model!, { executionProviders: ['cpu'], logSeverityLevel: 3, ...o });
const t1 = performance.now();
console.log(`created ${((t1 - t0) / 1000).toFixed(1)} s rss ${mib()} peak ${peak()}`);
const ids = new BigInt64Array(batch * seq).map((_, i) => BigInt((i * 7919) % 32000));
const feeds: Record<string, ort.Tensor> = {};
for (const name of s.inputNames) {
  if (name === 'input_ids') feeds[name] = new ort.Tensor('int64', ids, [batch, seq]);
  else if (name === 'attention_mask') feeds[name] = new ort.Tensor('int64', new BigInt64Array(batch * seq).fill(1n), [batch, seq]);
  else if (name === 'position_ids') feeds[name] = new ort.Tensor('int64', new BigInt64Array(batch * seq).map((_, i) => BigInt(i % seq)), [batch, seq]);
  else throw new Error('input ' + name);
}
for (let r = 1; r <= 3; r++) {
  const a = performance.now();
  const out = await s.run(feeds);
  const b = performance.now();
  const l = Object.values(out)[0]!;
  console.log(`run ${r} ${((b - a) / 1000).toFixed(2)} s rss ${mib()} peak ${peak()} ${l.type} ${(l.data as any)[5]}`);
}
await s.release();
console.log(`released rss ${mib()} peak ${peak()}`);
