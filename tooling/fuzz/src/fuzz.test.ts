/**
 * The hostile-input campaign as a test: seeded mutations of every file the CLI reads, plus link and
 * path games and out-of-range numbers, each run through the real CLI in-process. Every case must
 * end in exit 0 or a clear error (2/3/4): never exit 1, a crash, a hang, or a changed input.
 * LLM_BIP_FUZZ_SEED picks another campaign; LLM_BIP_FUZZ_SCALE multiplies the case counts.
 */
import { copyFileSync, linkSync, mkdirSync, readFileSync, renameSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seededRng, type Rng } from '@llm-bip/scoring';
import { buildTinyLlama, fixtures, shared, tempDir } from '@llm-bip/testing';
import { isClearError, runCase, type Outcome } from './harness.js';
import { flipBits, mutateJson, mutateOnnx, mutateSafetensors, pick, truncate } from './mutate.js';

const SEED = Number(process.env.LLM_BIP_FUZZ_SEED ?? 1);
const SCALE = Number(process.env.LLM_BIP_FUZZ_SCALE ?? 1);
const count = (n: number) => Math.max(1, Math.round(n * SCALE));

const tmp = tempDir('llm-bip-fuzz-');
afterAll(tmp.cleanup);
const base = join(tmp.dir, 'base');
const model = join(base, 'model'); // model.onnx, model.onnx.data and the tokenizer files
const hf = join(base, 'hf');
const calib = join(base, 'calib.jsonl');
const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'];

interface Case {
  family: string;
  what: string;
  argv: string[];
  /** what the command reads: hashed before and after */
  inputs: string[];
}

let n = 0;
/** A fresh case folder with in/ (inputs: hard links to the base files unless replaced) and out/. */
function caseDir(): { inDir: string; out: string } {
  const dir = join(tmp.dir, `case-${n++}`);
  mkdirSync(join(dir, 'in'), { recursive: true });
  mkdirSync(join(dir, 'out'));
  return { inDir: join(dir, 'in'), out: join(dir, 'out') };
}
function linkFolder(from: string, to: string, files: string[]): void {
  mkdirSync(to, { recursive: true });
  for (const f of files) linkSync(join(from, f), join(to, f));
}
/** Replace a hard link by a new file: renamed over the link, so the base file is never written. */
function replace(path: string, data: Uint8Array | string): void {
  writeFileSync(`${path}.new`, data);
  renameSync(`${path}.new`, path);
}

const MODEL_FILES = ['model.onnx', 'model.onnx.data', ...TOKENIZER_FILES];

function modelCase(): { inDir: string; out: string; m: string } {
  const c = caseDir();
  linkFolder(model, join(c.inDir, 'model'), MODEL_FILES);
  return { ...c, m: join(c.inDir, 'model') };
}

const inspect = (m: string) => ['inspect', join(m, 'model.onnx')];
const prune = (m: string, plan: string, out: string) => ['prune', join(m, 'model.onnx'), '--plan', plan, '-o', join(out, 'pruned')];
const score = (m: string, tok: string, out: string, samples = '2', seqLen = '8') =>
  ['score', join(m, 'model.onnx'), '--tokenizer', tok, '--calib', calib, '--samples', samples, '--seq-len', seqLen, '--ep', 'cpu', '-o', join(out, 'scores.json')];

function generate(rng: Rng): Case[] {
  const cases: Case[] = [];
  const onnxBytes = readFileSync(join(model, 'model.onnx'));

  for (let i = 0; i < count(60); i++) {
    const c = modelCase();
    const cut = rng.int(2) === 0;
    replace(join(c.m, 'model.onnx'), cut ? truncate(onnxBytes, rng) : flipBits(onnxBytes, rng));
    cases.push({ family: 'onnx bytes', what: cut ? 'truncated' : 'bit flips', argv: inspect(c.m), inputs: [c.inDir] });
  }
  for (let i = 0; i < count(80); i++) {
    const c = modelCase();
    const { bytes, what } = mutateOnnx(onnxBytes, rng);
    replace(join(c.m, 'model.onnx'), bytes);
    cases.push({ family: 'onnx fields', what, argv: i % 2 ? inspect(c.m) : prune(c.m, join(base, 'plan.json'), c.out), inputs: [c.inDir, join(base, 'plan.json')] });
  }
  const data = readFileSync(join(model, 'model.onnx.data'));
  for (let i = 0; i < count(16); i++) {
    const c = modelCase();
    const cut = rng.int(2) === 0;
    replace(join(c.m, 'model.onnx.data'), cut ? truncate(data, rng) : flipBits(data, rng));
    cases.push({ family: 'onnx data file', what: cut ? 'truncated' : 'bit flips', argv: prune(c.m, join(base, 'plan.json'), c.out), inputs: [c.inDir] });
  }

  const st = readFileSync(join(hf, 'model.safetensors'));
  const cfg = readFileSync(join(hf, 'config.json'), 'utf8');
  for (let i = 0; i < count(60); i++) {
    const c = caseDir();
    const h = join(c.inDir, 'hf');
    linkFolder(hf, h, ['config.json', 'model.safetensors', ...TOKENIZER_FILES]);
    const kind = rng.int(3);
    const m = kind === 0 ? mutateSafetensors(st, rng) : { bytes: kind === 1 ? truncate(st, rng) : flipBits(st, rng), what: kind === 1 ? 'truncated' : 'bit flips' };
    replace(join(h, 'model.safetensors'), m.bytes);
    cases.push({ family: 'safetensors', what: m.what, argv: ['export', h, '-o', join(c.out, 'm.onnx')], inputs: [c.inDir] });
  }
  for (let i = 0; i < count(60); i++) {
    const c = caseDir();
    const h = join(c.inDir, 'hf');
    linkFolder(hf, h, ['config.json', 'model.safetensors', ...TOKENIZER_FILES]);
    const { text, what } = mutateJson(cfg, rng);
    replace(join(h, 'config.json'), text);
    cases.push({ family: 'config.json', what, argv: ['export', h, '-o', join(c.out, 'm.onnx')], inputs: [c.inDir] });
  }

  for (const file of ['tokenizer.json', 'tokenizer_config.json'] as const) {
    const text = readFileSync(join(model, file), 'utf8');
    for (let i = 0; i < count(16); i++) {
      const c = modelCase();
      const { text: t, what } = mutateJson(text, rng);
      replace(join(c.m, file), t);
      cases.push({ family: file, what, argv: rng.int(3) === 0 ? prune(c.m, join(base, 'plan.json'), c.out) : score(c.m, c.m, c.out), inputs: [c.inDir, calib] });
    }
  }

  for (const [file, family, argvOf] of [
    ['plan.json', 'plan', (m: string, p: string, out: string) => prune(m, p, out)],
    ['scores.json', 'scores', (_m: string, p: string, out: string) => ['plan', p, '--ratio', '0.3', '-o', join(out, 'plan.json')]],
  ] as const) {
    const text = readFileSync(join(base, file), 'utf8');
    for (let i = 0; i < count(70); i++) {
      const c = modelCase();
      const p = join(c.inDir, file);
      const { text: t, what } = rng.int(8) === 0 ? { text: new TextDecoder().decode(truncate(Buffer.from(text), rng)), what: 'truncated' } : mutateJson(text, rng);
      writeFileSync(p, t);
      cases.push({ family, what, argv: argvOf(c.m, p, c.out), inputs: [c.inDir] });
    }
  }
  return cases;
}

/** Links out of the folder, `..` locations, folders where files are expected, numbers past the limits. */
function pathGames(): Case[] {
  const cases: Case[] = [];
  const secret = join(base, 'secret.txt');
  const add = (family: string, what: string, argv: string[], inputs: string[]) => cases.push({ family, what, argv, inputs });
  for (const f of TOKENIZER_FILES) {
    const c = modelCase();
    unlinkSync(join(c.m, f));
    symlinkSync(secret, join(c.m, f));
    add('links', `${f} -> a file outside the model folder`, prune(c.m, join(base, 'plan.json'), c.out), [c.inDir, secret]);
  }
  {
    const c = modelCase();
    unlinkSync(join(c.m, 'model.onnx.data'));
    symlinkSync(join(model, 'model.onnx.data'), join(c.m, 'model.onnx.data'));
    add('links', 'model.onnx.data -> a file outside the model folder', inspect(c.m), [c.inDir]);
  }
  for (const f of ['model.onnx', 'model.onnx.data', 'tokenizer.json', 'tokenizer_config.json']) {
    const c = modelCase();
    unlinkSync(join(c.m, f));
    mkdirSync(join(c.m, f));
    add('folder for a file', f, f.startsWith('tokenizer') ? score(c.m, c.m, c.out) : prune(c.m, join(base, 'plan.json'), c.out), [c.inDir]);
  }
  {
    const c = modelCase();
    mkdirSync(join(c.inDir, 'plan.json'));
    add('folder for a file', 'plan.json', prune(c.m, join(c.inDir, 'plan.json'), c.out), [c.inDir]);
  }
  {
    const c = caseDir();
    const h = join(c.inDir, 'hf');
    linkFolder(hf, h, ['model.safetensors']);
    mkdirSync(join(h, 'config.json'));
    add('folder for a file', 'config.json', ['export', h, '-o', join(c.out, 'm.onnx')], [c.inDir]);
  }
  {
    const c = modelCase();
    writeFileSync(join(c.m, 'config.json'), JSON.stringify({ max_position_embeddings: 64 }));
    add('numbers', 'bench --prompt 100000 (context 64)', ['bench', join(c.m, 'model.onnx'), '--prompt', '100000', '--ep', 'cpu'], [c.inDir]);
    add('numbers', 'score --seq-len 100000 (context 64)', score(c.m, c.m, c.out, '2', '100000'), [c.inDir]);
  }
  {
    const c = modelCase(); // no config.json: the context comes from the exporter's record in the model
    add('numbers', 'bench --prompt 100000 (context recorded in the .onnx)', ['bench', join(c.m, 'model.onnx'), '--prompt', '100000', '--ep', 'cpu'], [c.inDir]);
  }
  {
    const c = modelCase();
    add('numbers', 'score --samples 1e9', score(c.m, c.m, c.out, '1e9'), [c.inDir]);
  }
  return cases;
}

describe('hostile inputs through the CLI', () => {
  beforeAll(async () => {
    mkdirSync(base, { recursive: true });
    const tiny = await buildTinyLlama(
      { seed: 1, hiddenSize: 16, numLayers: 2, numHeads: 4, numKvHeads: 2, intermediateSize: 24, vocabSize: 8192 },
      { dir: model, dtype: 'float32', kvCache: false, externalData: true },
    );
    linkFolder(tiny.hfDir, hf, ['config.json', 'model.safetensors']);
    for (const f of TOKENIZER_FILES) {
      copyFileSync(join(fixtures.tinyHf, f), join(model, f));
      copyFileSync(join(fixtures.tinyHf, f), join(hf, f));
    }
    writeFileSync(calib, readFileSync(shared('data/c4/c4_sample.jsonl'), 'utf8').split('\n').slice(0, 20).join('\n') + '\n');
    writeFileSync(join(base, 'secret.txt'), 'PRIVATE KEY');
    const s = await runCase(score(model, model, base, '4', '16'), []);
    expect(s.code, s.stderr).toBe(0);
    const p = await runCase(['plan', join(base, 'scores.json'), '--ratio', '0.3', '-o', join(base, 'plan.json')], []);
    expect(p.code, p.stderr).toBe(0);
  });

  it(`every case ends in exit 0 or a clear error, never exit 1, a crash or a changed input (seed ${SEED})`, async () => {
    const cases = [...generate(seededRng(SEED)), ...pathGames()];
    const results: Array<Case & Outcome> = [];
    for (const c of cases) {
      if (process.env.LLM_BIP_FUZZ_VERBOSE) process.stderr.write(`${c.family} [${c.what}] llm-bip ${c.argv.join(' ')}\n`);
      results.push({ ...c, ...(await runCase(c.argv, c.inputs)) });
    }
    const bad = results.filter((r) => !(r.code === 0 || isClearError(r)));
    const changed = results.filter((r) => r.inputsChanged.length > 0);
    const byFamily = new Map<string, { n: number; ok: number; clear: number }>();
    for (const r of results) {
      const f = byFamily.get(r.family) ?? { n: 0, ok: 0, clear: 0 };
      f.n++;
      if (r.code === 0) f.ok++;
      else if (isClearError(r)) f.clear++;
      byFamily.set(r.family, f);
    }
    const lines = [...byFamily].map(([k, v]) => `  ${k}: ${v.n} cases, ${v.clear} clear errors, ${v.ok} successes`);
    console.log(
      `fuzz (seed ${SEED}): ${results.length} cases, ${results.filter(isClearError).length} clear errors, ${results.filter((r) => r.code === 0).length} successes, ` +
        `${bad.length} crashes or unexpected errors, ${changed.length} inputs changed\n${lines.join('\n')}`,
    );
    const report = (r: Case & Outcome) => `${r.family} [${r.what}] llm-bip ${r.argv.join(' ')} -> ${r.code}: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`;
    expect(bad.map(report)).toEqual([]);
    expect(changed.map((r) => `${report(r)} changed ${r.inputsChanged.join(', ')}`)).toEqual([]);
    // the links to a private file never reach the output
    for (const r of results.filter((x) => x.family === 'links')) expect(r.code).not.toBe(0);
  });
});
