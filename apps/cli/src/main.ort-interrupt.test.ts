/**
 * Ctrl-C (and SIGTERM) while an ONNX Runtime run is computing, for each command that runs models:
 * the process stops at once, not when the run returns. Each command gets a workload whose ORT runs
 * take far longer than the bound asserted here (a forward pass over batches of 2048-token sequences
 * on the tiny fixture: more than 15 s on two cores), and is interrupted a second after its session
 * loaded (eval: after its text was tokenized), that is inside such a run.
 */
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixtures, hasShared, shared, tempDir } from '@llm-bip/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { BIN, startCli, waitFor } from './spawn.testutil.js';

const GENAI = join(fixtures.genai, '..');
const INPUTS = ['genai_config.json', 'model.onnx', 'model.onnx.data', 'tokenizer.json', 'tokenizer_config.json'];
/** From the signal to the process's end; the interrupted runs would need far longer. */
const STOP_BOUND_MS = 5_000;

const cleanups: Array<() => void> = [];
afterEach(() => {
  while (cleanups.length) cleanups.pop()!();
});

/** A writable copy of the genai fixture (model, data, tokenizer) in a fresh folder, with its checksums. */
function modelCopy(): { dir: string; model: string; sums: () => Record<string, string> } {
  const t = tempDir('llm-bip-ort-interrupt-');
  cleanups.push(t.cleanup);
  const dir = join(t.dir, 'model');
  mkdirSync(dir);
  for (const f of INPUTS) copyFileSync(join(GENAI, f), join(dir, f));
  const sums = () => Object.fromEntries(readdirSync(dir).map((f) => [f, createHash('sha256').update(readFileSync(join(dir, f))).digest('hex')]));
  return { dir: t.dir, model: join(dir, 'model.onnx'), sums };
}

/** Start the command, wait until its session loaded (and `ready()`), one second more, then signal it. */
async function interruptDuringRun(args: string[], opts: { signal?: 'SIGINT' | 'SIGTERM'; env?: Record<string, string>; ready?: () => boolean } = {}) {
  const signal = opts.signal ?? 'SIGINT';
  const run = startCli(BIN, [...args, '--ep', 'cpu'], opts.env);
  // a failed assertion must not leave a process computing on the shared machine
  cleanups.push(() => void (run.child.exitCode === null && run.child.signalCode === null && run.child.kill('SIGKILL')));
  await waitFor(() => run.stderr().includes('execution provider: cpu') && (opts.ready?.() ?? true), 'the session to load', 60_000);
  await new Promise((r) => setTimeout(r, 1000)); // inside the first long run by now
  const t0 = Date.now();
  run.child.kill(signal);
  const r = await run.done;
  return { ...r, stopMs: Date.now() - t0 };
}

function expectStoppedDuringRun(r: Awaited<ReturnType<typeof interruptDuringRun>>, signal: 'SIGINT' | 'SIGTERM' = 'SIGINT'): void {
  // ended by the signal itself (shells report 130 / 143): ORT was still computing, so process.exit
  // would have waited for the run
  expect({ code: r.code, signal: r.signal }).toEqual({ code: null, signal });
  expect(r.stopMs).toBeLessThan(STOP_BOUND_MS);
  expect(r.stderr).toContain(signal === 'SIGINT' ? 'llm-bip: interrupted (Ctrl-C); partial outputs were removed' : 'llm-bip: terminated (SIGTERM); partial outputs were removed');
  expect(r.stderr).not.toMatch(/\n\s+at |Aborted|core dumped|terminate called/);
}

describe.skipIf(!hasShared('fixtures/bip-llama-tiny-onnx/genai/model.onnx') || !hasShared('data/wikitext-2-raw-v1/wiki.test.raw'))('Ctrl-C during an ORT run', () => {
  it('score: stops at once; no scores file, no temp file, the model folder unchanged', async () => {
    const m = modelCopy();
    const before = m.sums();
    const r = await interruptDuringRun(['score', m.model, '--samples', '64', '--seq-len', '2048', '-o', join(m.dir, 'scores.json')]);
    expectStoppedDuringRun(r);
    expect(readdirSync(m.dir)).toEqual(['model']);
    expect(m.sums()).toEqual(before);
  });

  it('eval: stops at once; the model folder unchanged', async () => {
    const m = modelCopy();
    const before = m.sums();
    // a short text (tokenizing all of WikiText-2 takes a minute of JS here) that fills one batch of 8 x 2048 tokens
    const data = join(m.dir, 'data');
    mkdirSync(join(data, 'wikitext-2-raw-v1'), { recursive: true });
    const wiki = readFileSync(shared('data/wikitext-2-raw-v1/wiki.test.raw')).subarray(0, 120_000);
    writeFileSync(join(data, 'wikitext-2-raw-v1', 'wiki.test.raw'), wiki);
    const cache = join(m.dir, 'cache');
    const tokenized = () => existsSync(cache) && readdirSync(cache).some((f) => f.startsWith('ids-') && f.endsWith('.i32'));
    const r = await interruptDuringRun(['eval', m.model, '--ppl', 'wikitext2', '--seq-len', '2048', '--batch-size', '8', '--data', data], {
      env: { LLM_BIP_CACHE: cache },
      ready: tokenized,
    });
    expectStoppedDuringRun(r);
    expect(readdirSync(m.dir).sort()).toEqual(['cache', 'data', 'model']);
    expect(m.sums()).toEqual(before);
  });

  it('prune-llm: stops at once; no output folder, no staging, the model folder unchanged', async () => {
    const m = modelCopy();
    const before = m.sums();
    const r = await interruptDuringRun(['prune-llm', m.model, '--ratio', '0.2', '--samples', '64', '--seq-len', '2048', '-o', join(m.dir, 'pruned')]);
    expectStoppedDuringRun(r);
    expect(readdirSync(m.dir)).toEqual(['model']);
    expect(m.sums()).toEqual(before);
  });

  it('bench: stops at once on SIGTERM too', async () => {
    const m = modelCopy();
    const before = m.sums();
    const r = await interruptDuringRun(['bench', m.model, '--prompt', '2048', '--batch', '16', '--decode', '0', '--repeats', '1'], { signal: 'SIGTERM' });
    expectStoppedDuringRun(r, 'SIGTERM');
    expect(readdirSync(m.dir)).toEqual(['model']);
    expect(m.sums()).toEqual(before);
  });
});
