import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { loadModel, mostlyHalfPrecision, type ModelProto } from '@llm-bip/onnx-io';
import { buildTinyLlama, type TinyLlamaShape, fixtures, tempDir } from '@llm-bip/testing';
import { createSession, forwardFeeds, forwardLogits, int64Tensor, logitsView, makeTokenBatch, type LogitsView, type Session } from '@llm-bip/runtime';
import { afterAll, describe, expect, it } from 'vitest';
import { EvalError } from './errors.js';
import { addTokenScoringHead, ARGMAX_OUTPUT, sumBlockSize, TARGETS_INPUT, TOKEN_LOGPROB_OUTPUT } from './scoring-head.js';
import { createScoringSession, forwardTokenScores, hasScoringHead } from './token-scores.js';

const tmp = tempDir('llm-bip-head-');
afterAll(() => tmp.cleanup());

const SHAPE: TinyLlamaShape = { seed: 11, hiddenSize: 64, numLayers: 2, numHeads: 8, numKvHeads: 2, intermediateSize: 96, vocabSize: 96 };

/** Deterministic pseudo-random ids, so a failure reproduces. */
function ids(n: number, vocab: number, seed: number): number[] {
  let s = seed;
  return Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s % vocab;
  });
}

/** float64 log-softmax of one float32 logits row at `target`, and the first argmax: an independent reference. */
function reference(view: LogitsView, row: number, target: number): { logprob: number; argmax: number } {
  const x = Array.from(view.data.subarray(row * view.vocab, (row + 1) * view.vocab));
  let best = 0;
  for (let v = 1; v < x.length; v++) if (x[v]! > x[best]!) best = v;
  const lse = x[best]! + Math.log(x.reduce((s, y) => s + Math.exp(y - x[best]!), 0));
  return { logprob: x[target]! - lse, argmax: best };
}

/** Input count of each op type among the head's nodes (the only ones named llm_bip_*). */
function headOps(model: ModelProto): Map<string, number> {
  const inputsPerOp = new Map<string, number>();
  for (const n of model.graph!.node!) if (n.name?.startsWith('llm_bip_')) inputsPerOp.set(n.opType!, n.input!.length);
  return inputsPerOp;
}

/**
 * The head's outputs against a float64 log-softmax of the logits that the same run produced (the head
 * session keeps the logits output; fetched here only to check it), rows of unequal length (right
 * padding; padded positions are not compared), random targets. Then against a plain session on the
 * same file, as callers use it: ORT may fuse the derived graph differently, so fp16 models can move by
 * an fp16 ulp of a logit there.
 */
async function checkHead(modelPath: string, tolerance: number, plainTolerance: number): Promise<{ compared: number; maxError: number; maxPlainError: number }> {
  // the plain session with the option the head session takes for fp16 models (keepFp16Weights: ORT then
  // rounds differently, by up to an fp16 ulp of a logit, than with its float32 weight copies)
  const keepFp16Weights = mostlyHalfPrecision((await loadModel(modelPath)).model);
  const plain = await createSession(modelPath, { ep: 'cpu', threads: 1, keepFp16Weights });
  const { session, cleanup } = await createScoringSession(modelPath, { ep: 'cpu', threads: 1 });
  try {
    expect(hasScoringHead(session)).toBe(true);
    expect(hasScoringHead(plain)).toBe(false);
    expect(session.modelPath).toBe(plain.modelPath);
    const logitsMeta = plain.outputMetadata.find((m) => m.name === 'logits')!;
    const vocab = logitsMeta.isTensor ? (logitsMeta.shape[2] as number) : 0;
    const idsMeta = plain.inputMetadata.find((m) => m.name === 'input_ids')!;
    const fixedBatch = idsMeta.isTensor && typeof idsMeta.shape[0] === 'number' ? idsMeta.shape[0] : undefined;
    const rows = [ids(23, vocab, 1), ids(17, vocab, 2), ids(9, vocab, 3)].slice(0, fixedBatch ?? 3);
    const batch = makeTokenBatch(rows);
    const targets = ids(batch.batch * batch.seq, vocab, 4);
    const feeds = { ...forwardFeeds(plain, batch), [TARGETS_INPUT]: int64Tensor(targets, [batch.batch, batch.seq]) };
    const out = await session.run(feeds, ['logits', TOKEN_LOGPROB_OUTPUT, ARGMAX_OUTPUT]);
    const sameRun = logitsView(out.logits!);
    const logprob = out[TOKEN_LOGPROB_OUTPUT]!.data as Float32Array;
    const argmax = out[ARGMAX_OUTPUT]!.data as BigInt64Array;
    const scores = await forwardTokenScores(session, batch, targets);
    const plainView = await forwardLogits(plain, batch);
    let compared = 0;
    let maxError = 0;
    let maxPlainError = 0;
    rows.forEach((r, b) => {
      for (let t = 0; t < r.length; t++) {
        const row = b * batch.seq + t;
        const ref = reference(sameRun, row, targets[row]!);
        maxError = Math.max(maxError, Math.abs(logprob[row]! - ref.logprob));
        expect(Number(argmax[row])).toBe(ref.argmax);
        // the helper fetches only the head outputs and gets the same numbers
        expect(scores.logprob[row]).toBe(logprob[row]);
        expect(scores.argmax[row]).toBe(argmax[row]);
        maxPlainError = Math.max(maxPlainError, Math.abs(scores.logprob[row]! - reference(plainView, row, targets[row]!).logprob));
        compared++;
      }
    });
    expect(maxError).toBeLessThan(tolerance);
    expect(maxPlainError).toBeLessThan(plainTolerance);
    return { compared, maxError, maxPlainError };
  } finally {
    await session.release();
    await plain.release();
    await cleanup();
  }
}

describe('token scoring head', () => {
  it('our fp32 export (opset 17: axes as attributes) equals a float64 log-softmax within 1e-5', async () => {
    const { onnxPath } = await buildTinyLlama(SHAPE, { dir: join(tmp.dir, 'fp32'), dtype: 'float32', kvCache: false });
    const model = (await loadModel(onnxPath)).model;
    addTokenScoringHead(model);
    const ops = headOps(model);
    expect(ops.get('ReduceMax')).toBe(1); // axes an attribute before opset 18
    expect(ops.get('ReduceSum')).toBe(2); // axes an input since opset 13
    expect(ops.has('Reshape')).toBe(true); // the exp sum in blocks: 96 = 6 x 16
    expect(ops.get('Unsqueeze')).toBe(2); // axes an input since opset 13
    expect(ops.get('Squeeze')).toBe(2);
    expect(ops.has('Cast')).toBe(false);
    expect(model.graph!.input!.map((i) => i.name)).toContain(TARGETS_INPUT);
    expect(model.graph!.output!.map((o) => o.name)).toEqual(['logits', TOKEN_LOGPROB_OUTPUT, ARGMAX_OUTPUT]);
    expect(() => addTokenScoringHead(model)).toThrow(EvalError);
    const { compared } = await checkHead(onnxPath, 1e-5, 1e-5); // measured 5.5e-7
    expect(compared).toBe(23 + 17 + 9);
  });

  it('our KV-cache export with external data: the derived model loads from memory, nothing is written beside it', async () => {
    const { onnxPath } = await buildTinyLlama(SHAPE, { dir: join(tmp.dir, 'kv'), dtype: 'float32', kvCache: true, externalData: true });
    const dir = dirname(onnxPath);
    const listing = readdirSync(dir).sort();
    const { session, cleanup } = await createScoringSession(onnxPath, { ep: 'cpu', threads: 1 });
    expect(readdirSync(dir).sort()).toEqual(listing);
    expect(session.modelPath).toBe(onnxPath);
    expect(session.outputNames.some((n) => n.startsWith('present.'))).toBe(true); // original outputs kept
    await session.release();
    await cleanup();
    await checkHead(onnxPath, 1e-5, 1e-5);
    expect(readdirSync(dir).sort()).toEqual(listing);
  });

  it.each([
    ['torchscript (fp16, opset 17)', fixtures.torchscript, false],
    ['dynamo (fp16, opset 20)', fixtures.dynamo, true],
    ['genai builder (fp16, opset 21, KV cache, external data)', fixtures.genai, true],
  ])('%s equals a float64 log-softmax of its fp16 logits within 2e-5', async (_label, path, axesAsInput) => {
    const model = (await loadModel(path)).model;
    addTokenScoringHead(model);
    const ops = headOps(model);
    expect(ops.get('Cast')).toBe(1);
    expect(ops.get('Mul')).toBe(2); // the fp16 re-rounding
    expect(ops.get('ReduceMax')).toBe(axesAsInput ? 2 : 1);
    expect(ops.get('ReduceSum')).toBe(2);
    expect(ops.has('Reshape')).toBe(true); // the exp sum in blocks: 8,192 = 128 x 64
    expect(ops.get('Squeeze')).toBe(2);
    expect(ops.get('Unsqueeze')).toBe(2);
    // the head re-rounds to fp16 what ORT's CPU EP computed in float32 (scoring-head.ts): it must see the
    // logits output's values, so the bound is float32 arithmetic over 8,192 logits (measured 1.9e-6 to
    // 4.9e-6), far below an fp16 ulp (7.8e-3 at 8..16; without the re-rounding the error was 3.2e-3..3.9e-3)
    const { maxError } = await checkHead(path, 2e-5, 2e-5);
    expect(maxError).toBeGreaterThan(0); // not vacuous: the head computed in float32, not copied float64
  });

  it('opset 12: every Reduce* and Squeeze/Unsqueeze take axes as attributes', async () => {
    const { onnxPath } = await buildTinyLlama(SHAPE, { dir: join(tmp.dir, 'opset12'), dtype: 'float32', kvCache: false });
    const model = (await loadModel(onnxPath)).model;
    model.opsetImport = [{ domain: '', version: 12 }];
    addTokenScoringHead(model);
    const head = model.graph!.node!.filter((n) => n.name!.startsWith('llm_bip_'));
    for (const op of ['ReduceMax', 'ReduceSum', 'Squeeze', 'Unsqueeze']) {
      const nodes = head.filter((n) => n.opType === op);
      expect(nodes.length).toBeGreaterThan(0);
      for (const node of nodes) {
        expect(node.input).toHaveLength(1);
        expect(node.attribute!.find((a) => a.name === 'axes')!.ints!.map(Number)).toEqual([-1]);
      }
    }
  });

  it('sums exponentials in blocks near sqrt(vocab) when the vocabulary has such a divisor', () => {
    expect(sumBlockSize(8192)).toBe(64);
    expect(sumBlockSize(32000)).toBe(160);
    expect(sumBlockSize(128256)).toBe(334);
    expect(sumBlockSize(32001)).toBeUndefined(); // 3 x 10,667: one stage
    expect(sumBlockSize(undefined)).toBeUndefined();
  });

  it('refuses to score with a session that has no head', async () => {
    const plain: Session = await createSession(fixtures.torchscript, { ep: 'cpu', threads: 1 });
    try {
      await expect(forwardTokenScores(plain, makeTokenBatch([[1, 2, 3]]), [0, 0, 0])).rejects.toThrow(/no scoring head/);
    } finally {
      await plain.release();
    }
  });
});
