/**
 * Benchmark (not a test): perplexity throughput of one model at several windows-per-run settings,
 * side by side in one process on one session per setting, rounds alternating so that load on a shared
 * machine falls on every setting alike. "auto" is the pipeline's memory-estimated batch.
 *
 *   node --conditions=source --import tsx tooling/scripts/bench-eval-batch.ts --hf ../shared/testbed/bip-llama-small \
 *     [--batches 1,4,auto] [--windows 64] [--seq-len 128] [--rounds 2] [--ep cpu] [--json]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { evaluatePerplexity, loadTextDataset, loadTokenizer, locatePerplexitySet } from '../../packages/eval/src/index.js'; // tooling is not a workspace package: import the source
import { exportLlamaToOnnx } from '../../packages/model/src/index.js';
import { evaluationSession, logitsVocab, windowBatchOf } from '../../packages/pipeline/src/index.js';

const { values } = parseArgs({
  options: {
    hf: { type: 'string' },
    batches: { type: 'string', default: '1,4,auto' },
    windows: { type: 'string', default: '64' },
    'seq-len': { type: 'string', default: '128' },
    rounds: { type: 'string', default: '2' },
    ep: { type: 'string', default: 'cpu' },
    data: { type: 'string', default: '../shared/data' },
    json: { type: 'boolean', default: false },
  },
});
if (!values.hf) throw new Error('--hf DIR (a HF checkpoint folder) is required');
const seqLen = Number(values['seq-len']);
const windows = Number(values.windows);
const rounds = Number(values.rounds);
const dir = mkdtempSync(join(tmpdir(), 'bench-eval-batch-'));
try {
  const onnx = join(dir, 'model.onnx');
  await exportLlamaToOnnx(values.hf, onnx, { dtype: 'float32', kvCache: false });
  const tokenizer = loadTokenizer(values.hf);
  const dataset = await loadTextDataset('wikitext2', locatePerplexitySet('wikitext2', values.data));
  const cacheDir = join(dir, 'cache');
  const ep = values.ep as 'cpu';
  const results: Record<string, { batch: number; tokensPerSec: number[]; ppl: number }> = {};
  for (let r = 0; r < rounds; r++) {
    const order = values.batches.split(',');
    if (r % 2 === 1) order.reverse();
    for (const setting of order) {
      const { session, cleanup } = await evaluationSession(onnx, ep);
      try {
        const batch = setting === 'auto' ? windowBatchOf(onnx, session.ep, logitsVocab(session), seqLen, { limit: windows }).batch : Number(setting);
        const res = await evaluatePerplexity(session, tokenizer, dataset, { seqLen, limit: windows, batchSize: batch, cacheDir });
        const row = (results[setting] ??= { batch, tokensPerSec: [], ppl: res.ppl });
        row.tokensPerSec.push(res.tokensPerSec);
        if (Math.abs(row.ppl - res.ppl) / res.ppl > 1e-5) throw new Error(`${setting}: ppl ${res.ppl} differs from ${row.ppl}`);
        process.stderr.write(`round ${r + 1} batch ${setting} (${batch}): ${res.tokensPerSec.toFixed(0)} tok/s, ppl ${res.ppl.toFixed(4)}\n`);
      } finally {
        await session.release();
        await cleanup();
      }
    }
  }
  const base = results[values.batches.split(',')[0]!]!;
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  if (values.json) process.stdout.write(`${JSON.stringify({ model: values.hf, seqLen, windows, rounds, ep, results })}\n`);
  else {
    process.stdout.write(`| windows per run | tokens/s (mean of ${rounds}) | vs ${values.batches.split(',')[0]} | ppl |\n|---|---:|---:|---:|\n`);
    for (const [setting, row] of Object.entries(results)) {
      process.stdout.write(`| ${setting === 'auto' ? `auto (${row.batch})` : setting} | ${mean(row.tokensPerSec).toFixed(0)} | ${(mean(row.tokensPerSec) / mean(base.tokensPerSec)).toFixed(2)}x | ${row.ppl.toFixed(4)} |\n`);
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
