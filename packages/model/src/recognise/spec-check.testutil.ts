/**
 * Test helper: check a ModelSpec against its graph and against the model's known configuration,
 * independently of how the recognisers found it (names exist, weight shapes along outAxis, constants
 * and attributes hold the values their roles say).
 */
import { expect } from 'vitest';
import { GraphIndex, type ModelProto, toNumber, inlineTensorIntegers, tensorDims, type TensorRef } from '@llm-bip/onnx-io';
import type { LayerSpec, LinearRef, ModelSpec, NormRef } from '../spec.js';

export interface ExpectedShape {
  numLayers: number;
  hiddenSize: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  intermediateSize: number;
  vocabSize: number;
  rmsNormEps: number;
}

function tensorExists(ix: GraphIndex, ref: TensorRef, what: string): void {
  if (typeof ref === 'string') {
    expect(ix.hasTensor(ref), `${what}: tensor "${ref}" exists`).toBe(true);
  } else {
    const n = ix.node(ref.node);
    expect(n, `${what}: node "${ref.node}" exists`).toBeDefined();
    expect(ref.output, `${what}: output slot of ${ref.node}`).toBeGreaterThanOrEqual(0);
  }
}

function linear(ix: GraphIndex, ref: LinearRef, out: number, inp: number, what: string): void {
  const node = ix.node(ref.node);
  expect(node, `${what}: node "${ref.node}"`).toBeDefined();
  expect(['MatMul', 'Gemm']).toContain(node!.opType);
  const w = ix.initializer(ref.weight);
  expect(w, `${what}: weight "${ref.weight}"`).toBeDefined();
  const dims = tensorDims(w!);
  expect(dims.length).toBe(2);
  const outSize = ref.columns ? ref.columns.end - ref.columns.start : dims[ref.outAxis];
  expect(outSize, `${what}: output features`).toBe(out);
  if (ref.columns) expect(ref.columns.end).toBeLessThanOrEqual(dims[ref.outAxis]!);
  expect(dims[1 - ref.outAxis], `${what}: input features`).toBe(inp);
}

function norm(ix: GraphIndex, n: NormRef, hidden: number, eps: number, what: string): void {
  const w = ix.initializer(n.weight);
  expect(w, `${what}: gamma "${n.weight}"`).toBeDefined();
  expect(tensorDims(w!)).toEqual([hidden]);
  tensorExists(ix, n.input, `${what} input`);
  tensorExists(ix, n.output, `${what} output`);
  expect(n.epsilon).toBeCloseTo(eps, 12);
}

/** The value a ShapeUse points at: element `element` of the constant feeding input `input` of `node`. */
export function shapeUseValue(ix: GraphIndex, use: { node: string; input: number; element: number }): number {
  const node = ix.node(use.node);
  expect(node, `shape use node "${use.node}"`).toBeDefined();
  const t = ix.constantTensor(node!.input![use.input]!);
  expect(t, `input ${use.input} of "${use.node}" is a constant`).toBeDefined();
  const v = inlineTensorIntegers(t!)[use.element];
  expect(v).toBeDefined();
  return v!;
}

export function checkSpec(model: ModelProto, spec: ModelSpec, e: ExpectedShape): void {
  const ix = new GraphIndex(model.graph!);
  expect(spec.numLayers).toBe(e.numLayers);
  expect(spec.layers).toHaveLength(e.numLayers);
  expect(spec.hiddenSize).toBe(e.hiddenSize);
  expect(spec.vocabSize).toBe(e.vocabSize);
  expect(spec.rmsNormEps).toBeCloseTo(e.rmsNormEps, 12);
  expect(ix.isGraphInput(spec.inputs.inputIds)).toBe(true);
  if (spec.inputs.attentionMask) expect(ix.isGraphInput(spec.inputs.attentionMask)).toBe(true);
  if (spec.inputs.positionIds) expect(ix.isGraphInput(spec.inputs.positionIds)).toBe(true);
  expect(ix.isGraphOutput(spec.logits)).toBe(true);
  expect(tensorDims(ix.initializer(spec.embedding.weight)!)).toEqual([e.vocabSize, e.hiddenSize]);
  norm(ix, spec.finalNorm, e.hiddenSize, e.rmsNormEps, 'final norm');
  linear(ix, spec.lmHead, e.vocabSize, e.hiddenSize, 'lm_head');
  const qW = e.numHeads * e.headDim;
  const kvW = e.numKvHeads * e.headDim;
  spec.layers.forEach((l: LayerSpec, i) => {
    const at = `layer ${i}`;
    expect(l.index).toBe(i);
    expect([l.numHeads, l.numKvHeads, l.headDim, l.intermediateSize], at).toEqual([e.numHeads, e.numKvHeads, e.headDim, e.intermediateSize]);
    norm(ix, l.attnNorm, e.hiddenSize, e.rmsNormEps, `${at} attn norm`);
    norm(ix, l.ffnNorm, e.hiddenSize, e.rmsNormEps, `${at} ffn norm`);
    linear(ix, l.q, qW, e.hiddenSize, `${at} q`);
    linear(ix, l.k, kvW, e.hiddenSize, `${at} k`);
    linear(ix, l.v, kvW, e.hiddenSize, `${at} v`);
    linear(ix, l.o, e.hiddenSize, qW, `${at} o`);
    linear(ix, l.gate, e.intermediateSize, e.hiddenSize, `${at} gate`);
    linear(ix, l.up, e.intermediateSize, e.hiddenSize, `${at} up`);
    linear(ix, l.down, e.hiddenSize, e.intermediateSize, `${at} down`);
    for (const [name, ref] of Object.entries({
      input: l.input,
      attnContext: l.attnContext,
      attnOutput: l.attnOutput,
      residualMid: l.residualMid,
      gateOut: l.gateOut,
      upOut: l.upOut,
      ffnAct: l.ffnAct,
      ffnOutput: l.ffnOutput,
      output: l.output,
    })) {
      tensorExists(ix, ref, `${at} ${name}`);
    }
    // the block is chained: layer i's output is layer i+1's input, and the norms read the residual stream
    if (i > 0) expect(l.input).toEqual(spec.layers[i - 1]!.output);
    expect(l.attnNorm.input).toEqual(l.input);
    expect(l.ffnNorm.input).toEqual(l.residualMid);
    // o_proj reads z, and the FFN's down projection reads s
    expect(ix.node(l.o.node)!.input![0]).toBe(l.attnContext);
    expect(ix.node(l.down.node)!.input![0]).toBe(l.ffnAct);
    expect(ix.node(l.gate.node)!.output![0]).toBe(l.gateOut);
    expect(ix.node(l.up.node)!.output![0]).toBe(l.upOut);
    const expected = { numHeads: e.numHeads, numKvHeads: e.numKvHeads, qWidth: qW, kvWidth: kvW, qkWidth: qW + kvW, ffnWidth: e.intermediateSize, kvGroupsRepeat: e.numHeads / e.numKvHeads };
    for (const u of l.shapeUses) {
      expect(shapeUseValue(ix, u), `${at} ${u.role} at ${u.node}[${u.input}][${u.element}]`).toBe(expected[u.role]);
      if (u.shapeOf) expect(ix.node(u.shapeOf.node), `shapeOf node ${u.shapeOf.node}`).toBeDefined();
    }
    for (const a of l.attributeUses) {
      const attr = ix.node(a.node)?.attribute?.find((x) => x.name === a.attribute);
      expect(attr, `${at} attribute ${a.attribute} on ${a.node}`).toBeDefined();
      expect(toNumber(attr!.i)).toBe(expected[a.role]);
    }
    if (l.kvCache) {
      const c = l.kvCache;
      expect(ix.isGraphInput(c.pastKey) && ix.isGraphInput(c.pastValue)).toBe(true);
      expect(ix.isGraphOutput(c.presentKey) && ix.isGraphOutput(c.presentValue)).toBe(true);
      expect([c.pastKey, c.pastValue, c.presentKey, c.presentValue]).toEqual([
        `past_key_values.${i}.key`,
        `past_key_values.${i}.value`,
        `present.${i}.key`,
        `present.${i}.value`,
      ]);
      expect(c.headAxis).toBe(1);
    }
  });
  expect(spec.kvCache).toBe(spec.layers.every((l) => l.kvCache !== undefined));
}
