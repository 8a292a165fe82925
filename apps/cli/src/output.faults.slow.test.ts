/**
 * Fault tests of the output machinery on real runs (#17 classes 2, 4, 5, killed-run leftovers): a
 * spawned `llm-bip prune` of the tiny test-bed model is interrupted (SIGINT) or killed (SIGKILL) at
 * several moments, two runs race into one folder, and a run is interrupted while another writes beside
 * it. Every case checks: the inputs are byte-identical afterwards, nothing but this run's own files is
 * removed, leftovers of a killed run are gone after the next run into that folder, and a finished
 * output is never a mix of two runs. Writes are slowed by a preload (slow-writes.testutil.ts) so a
 * signal can land inside the surgery of a 19 MB model.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeModel, encodeModel, loadModel } from '@llm-bip/onnx-io';
import { emptyPlan, exportLlamaToOnnx, recogniseModel, type PruningPlan } from '@llm-bip/model';
import { fixtures, repoRoot, shared, tempDir } from '@llm-bip/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from './capture.testutil.js';
import { ExitCode } from './errors.js';
import { isTempName, LOCK_NAME } from './output.js';

const t = tempDir('llm-bip-faults-');
afterAll(() => t.cleanup());
const m = join(t.dir, 'm'); // the input model folder
const model = join(m, 'model.onnx');
const plans = { a: join(t.dir, 'plan-a.json'), b: join(t.dir, 'plan-b.json') };
const refs: Record<'a' | 'b', { data: string; graph: string }> = { a: { data: '', graph: '' }, b: { data: '', graph: '' } };
let inputs: Record<string, string>;
let n = 0;
const fresh = (user = true) => {
  const d = join(t.dir, `out-${n++}`);
  mkdirSync(d);
  if (user) writeFileSync(join(d, 'notes.txt'), 'a file of the user');
  return d;
};

const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');
const hashes = (dir: string) => Object.fromEntries(readdirSync(dir).sort().map((f) => [f, sha(join(dir, f))]));
/** The graph and weights' layout without the provenance metadata (its timestamp differs run to run). */
const graphHash = (p: string) => {
  const mp = decodeModel(readFileSync(p), p);
  mp.metadataProps = [];
  return createHash('sha256').update(encodeModel(mp)).digest('hex');
};

beforeAll(async () => {
  mkdirSync(m);
  await exportLlamaToOnnx(fixtures.tinyHf, model, { dtype: 'float32', kvCache: true, externalData: true });
  for (const f of ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json']) copyFileSync(join(fixtures.tinyHf, f), join(m, f));
  const loaded = await loadModel(model);
  const spec = recogniseModel(loaded.model, { modelDir: loaded.dir });
  const make = (ratio: number, dropHead: (h: number) => boolean, dropChannel: (c: number) => boolean): PruningPlan => {
    const p = emptyPlan(spec);
    p.ratio = ratio;
    for (const l of p.layers) {
      l.keepHeads = l.keepHeads.filter((h) => !dropHead(h));
      l.keepKvHeads = l.keepKvHeads.filter((h) => !dropHead(h)); // MHA: one KV head per head
      l.keepChannels = l.keepChannels.filter((c) => !dropChannel(c));
    }
    return p;
  };
  writeFileSync(plans.a, JSON.stringify(make(0.1, (h) => h === 0, (c) => c % 4 === 1)));
  writeFileSync(plans.b, JSON.stringify(make(0.3, (h) => h < 3, (c) => c % 3 === 0)));
  for (const k of ['a', 'b'] as const) {
    const out = join(t.dir, `ref-${k}`);
    const r = await cli(['prune', model, '--plan', plans[k], '-o', out, '-q']);
    expect(r.code, r.stderr).toBe(0);
    refs[k] = { data: sha(join(out, 'model.onnx.data')), graph: graphHash(join(out, 'model.onnx')) };
  }
  expect(refs.a.data).not.toBe(refs.b.data);
  inputs = hashes(m);
}, 60_000);

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

/** `gate`: a file; while it exists the run's writes wait (the test holds the run mid-surgery). */
function prune(plan: string, out: string, delayMs = 0, gate?: string) {
  const child = spawn(
    process.execPath,
    ['--conditions=source', '--import', 'tsx', '--import', './apps/cli/src/slow-writes.testutil.ts', 'apps/cli/src/bin.ts', 'prune', model, '--plan', plan, '-o', out, '-q'],
    { cwd: repoRoot, env: { ...process.env, LLM_BIP_TEST_WRITE_DELAY_MS: String(delayMs), ...(gate ? { LLM_BIP_TEST_WRITE_GATE: gate } : {}) }, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const done = new Promise<Run>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stderr })));
  return { child, done };
}

/** The moments a signal is sent at: the lock taken; the data file opened; being written; over 4 MB of it written. */
type Moment = 'locked' | 'opened' | 'writing' | 'half';
function reached(out: string, moment: Moment): boolean {
  const names = readdirSync(out);
  if (moment === 'locked') return names.includes(LOCK_NAME);
  for (const s of names.filter((x) => isTempName(x) && x !== LOCK_NAME)) {
    let files: string[];
    try {
      files = readdirSync(join(out, s));
    } catch {
      continue;
    }
    for (const f of files) {
      const size = statSync(join(out, s, f), { throwIfNoEntry: false })?.size ?? 0;
      if (f.includes('model.onnx.data') && (moment === 'opened' || (moment === 'writing' ? size > 0 : size > 4 * 1024 * 1024))) return true;
    }
  }
  return false;
}

async function waitFor(cond: () => boolean, what: string, running: Promise<unknown>, ms = 30_000): Promise<void> {
  let exited = false;
  void running.then(() => (exited = true));
  const t0 = Date.now();
  while (!cond()) {
    if (exited) throw new Error(`the run ended before ${what}`);
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function expectInputsUnchanged(): void {
  expect(hashes(m)).toEqual(inputs); // same files (no derived or temp files) with the same bytes
}

/** A finished output folder: one run's model, data and record, matching that run's reference, nothing half-done. */
function expectWholeOutput(out: string, extra: string[] = ['notes.txt']): 'a' | 'b' {
  const names = readdirSync(out).sort();
  expect(names.filter(isTempName)).toEqual([]);
  expect(names).toEqual(['model.onnx', 'model.onnx.data', 'model.onnx.pruning.json', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json', ...extra].sort());
  const record = JSON.parse(readFileSync(join(out, 'model.onnx.pruning.json'), 'utf8')) as { plan: { ratio: number }; output: { path: string } };
  const which = record.plan.ratio === 0.1 ? 'a' : 'b';
  expect(record.output.path).toBe(join(out, 'model.onnx')); // the final path, not the staging folder's
  expect(sha(join(out, 'model.onnx.data'))).toBe(refs[which].data);
  expect(graphHash(join(out, 'model.onnx'))).toBe(refs[which].graph);
  if (extra.includes('notes.txt')) expect(readFileSync(join(out, 'notes.txt'), 'utf8')).toBe('a file of the user');
  return which;
}

const tally = { tried: 0, passed: 0 };
afterAll(() => console.log(`fault cases: ${tally.passed} of ${tally.tried} passed`));
const counted = (name: string, f: () => Promise<void>, timeout = 40_000) =>
  it(
    name,
    async () => {
      tally.tried++;
      await f();
      tally.passed++;
    },
    timeout,
  );

describe('interrupted and killed runs', () => {
  for (const moment of ['locked', 'writing', 'half'] as const) {
    counted(`SIGINT at "${moment}": exit 130, the folder holds only what it held before, inputs unchanged`, async () => {
      const out = fresh();
      const run = prune(plans.a, out, 15);
      await waitFor(() => reached(out, moment), moment, run.done);
      run.child.kill('SIGINT');
      const r = await run.done;
      expect(r.code, r.stderr).toBe(130);
      expect(readdirSync(out)).toEqual(['notes.txt']);
      expectInputsUnchanged();
    });

    counted(`SIGKILL at "${moment}": the next run into the folder reclaims the leftovers and writes a whole output`, async () => {
      const out = fresh();
      const run = prune(plans.a, out, 15);
      await waitFor(() => reached(out, moment), moment, run.done);
      run.child.kill('SIGKILL');
      const r = await run.done;
      expect(r.signal).toBe('SIGKILL');
      expect(readdirSync(out).filter(isTempName).length).toBeGreaterThan(0); // the killed run's lock / staging folder
      const next = await prune(plans.b, out).done;
      expect(next.code, next.stderr).toBe(0);
      expect(expectWholeOutput(out)).toBe('b');
      expectInputsUnchanged();
    });
  }
});

describe('two runs', () => {
  counted('a run interrupted in a folder it created removes only its own files (#17 class 2)', async () => {
    const created = join(t.dir, 'x', 'new');
    const gate = join(t.dir, 'gate-class2');
    writeFileSync(gate, '');
    const run = prune(plans.a, join(created, 'out'), 0, gate);
    await waitFor(() => existsSync(join(created, 'out')) && reached(join(created, 'out'), 'opened'), 'opened', run.done);
    // meanwhile: another run finishes beside it, a second one is refused its folder, the user drops a file in it
    const beside = await cli(['prune', model, '--plan', plans.b, '-o', join(created, 'other'), '-q']);
    expect(beside.code, beside.stderr).toBe(0);
    const refused = await cli(['prune', model, '--plan', plans.b, '-o', join(created, 'out'), '-q']);
    expect(refused.code).toBe(ExitCode.output);
    expect(refused.stderr).toContain(`another llm-bip run (pid ${run.child.pid}`);
    writeFileSync(join(created, 'out', 'notes.txt'), 'a file of the user');
    run.child.kill('SIGINT');
    expect((await run.done).code).toBe(130);
    expect(readdirSync(created).sort()).toEqual(['other', 'out']);
    expect(readdirSync(join(created, 'out'))).toEqual(['notes.txt']);
    expect(expectWholeOutput(join(created, 'other'), [])).toBe('b');
    expectInputsUnchanged();
  });

  counted('a second run into a folder being written fails at once (exit 4, naming the first); the first finishes whole', async () => {
    const out = fresh();
    const gate = join(t.dir, 'gate-second');
    writeFileSync(gate, '');
    const first = prune(plans.a, out, 0, gate);
    await waitFor(() => reached(out, 'locked'), 'locked', first.done);
    const second = await cli(['prune', model, '--plan', plans.b, '-o', out, '-q']);
    rmSync(gate);
    expect(second.code).toBe(ExitCode.output);
    expect(second.stderr).toContain(`another llm-bip run (pid ${first.child.pid}`);
    expect((await first.done).code).toBe(0);
    expect(expectWholeOutput(out)).toBe('a');
    expectInputsUnchanged();
  });

  counted('two runs started together into one folder: never a mix (one fails cleanly, or they run one after the other)', async () => {
    const out = fresh();
    const [ra, rb] = await Promise.all([prune(plans.a, out, 2).done, prune(plans.b, out, 2).done]);
    const codes = [ra.code, rb.code];
    expect(codes.every((c) => c === 0 || c === ExitCode.output)).toBe(true);
    expect(codes).toContain(0);
    const which = expectWholeOutput(out);
    if (ra.code === ExitCode.output) expect(which).toBe('b');
    if (rb.code === ExitCode.output) expect(which).toBe('a');
    for (const r of [ra, rb]) if (r.code === ExitCode.output) expect(r.stderr).toContain('another llm-bip run (pid ');
    expectInputsUnchanged();
  });
});

describe('a read-only model folder (#17 class 4)', () => {
  counted('can be scored: no derived model is written into it', async () => {
    const calib = join(t.dir, 'calib.jsonl');
    writeFileSync(calib, `${readFileSync(shared('data/c4/c4_sample.jsonl'), 'utf8').split('\n').slice(0, 8).join('\n')}\n`);
    chmodSync(m, 0o555);
    try {
      const r = await cli(['score', model, '--samples', '4', '--seq-len', '16', '--calib', calib, '--ep', 'cpu', '-o', join(t.dir, 'scores', 'scores.json'), '-q']);
      expect(r.code, r.stderr).toBe(0);
    } finally {
      chmodSync(m, 0o755);
    }
    expect(JSON.parse(readFileSync(join(t.dir, 'scores', 'scores.json'), 'utf8')).format).toBe('llm-bip.scores/v1');
    expectInputsUnchanged();
  });
});
