import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fixtures } from '@llm-bip/testing';
import { decodeModel } from '../proto/codec.js';
import { DataType } from '../proto/types.js';
import { inlineTensorIntegers, readTensorAsFloat32 } from '../tensor/tensor-data.js';
import { GraphIndex, IMPLICIT_INPUT } from './graph-index.js';
import { asFloat, constantInts, f32, graph, node } from './graph.testutil.js';

// x -> MatMul(W) -> Reshape(shape) -> Transpose -> Add(B) -> y ; shape comes from a Constant node
const fiveNodes = () =>
  graph({
    inputs: [['x', DataType.FLOAT, ['batch', 4]]],
    outputs: ['y'],
    initializers: [f32('W', [4, 4]), f32('B', [2, 2])],
    nodes: [
      constantInts('shape_const', 'shape', [2, 2]),
      node('MatMul', ['x', 'W'], ['mm'], { name: 'matmul' }),
      node('Reshape', ['mm', 'shape'], ['r'], { name: 'reshape' }),
      node('Transpose', ['r'], ['t'], { name: 'transpose', attrs: { perm: [1, 0] } }),
      node('Add', ['t', 'B'], ['y'], { name: 'add' }),
    ],
  });

describe('GraphIndex', () => {
  it('answers producer, consumers, initializer and graph input/output questions', () => {
    const g = fiveNodes();
    const ix = new GraphIndex(g);
    expect(ix.node('reshape')?.opType).toBe('Reshape');
    expect(ix.node('missing')).toBeUndefined();
    expect(() => ix.requireNode('missing')).toThrow(/no node named "missing"/);
    expect(ix.producer('r')).toEqual({ node: ix.node('reshape'), output: 0 });
    expect(ix.producer('x')).toBeUndefined();
    expect(ix.consumers('shape')).toEqual([{ node: ix.node('reshape'), input: 1 }]);
    expect(ix.consumers('W')).toEqual([{ node: ix.node('matmul'), input: 1 }]);
    expect(ix.consumers('y')).toEqual([]);
    expect(ix.initializer('B')?.dims).toEqual([2, 2]);
    expect(ix.initializer('mm')).toBeUndefined();
    expect([ix.isGraphInput('x'), ix.isGraphInput('W'), ix.isGraphOutput('y'), ix.isGraphOutput('t')]).toEqual([true, false, true, false]);
    expect(ix.hasTensor('t') && ix.hasTensor('W') && ix.hasTensor('x') && !ix.hasTensor('nope')).toBe(true);
  });

  it('finds constant values behind initializers and every Constant attribute form', async () => {
    const g = fiveNodes();
    g.node = [
      ...g.node!,
      node('Constant', [], ['ci'], { name: 'c1', attrs: { value_int: 7 } }),
      node('Constant', [], ['cis'], { name: 'c2', attrs: { value_ints: [3, -1] } }),
      node('Constant', [], ['cf'], { name: 'c3', attrs: { value_float: asFloat(2) } }),
      node('Constant', [], ['cfs'], { name: 'c4', attrs: { value_floats: [0.5, 1.5] } }),
    ];
    const ix = new GraphIndex(g);
    expect(inlineTensorIntegers(ix.constantTensor('shape')!)).toEqual([2, 2]);
    expect(Array.from(await readTensorAsFloat32(ix.constantTensor('W')!, '.'))).toEqual(Array.from({ length: 16 }, (_, i) => i));
    expect(inlineTensorIntegers(ix.constantTensor('ci')!)).toEqual([7]);
    expect(ix.constantTensor('ci')!.dims).toEqual([]);
    expect(inlineTensorIntegers(ix.constantTensor('cis')!)).toEqual([3, -1]);
    expect(Array.from(await readTensorAsFloat32(ix.constantTensor('cf')!, '.'))).toEqual([2]);
    expect(Array.from(await readTensorAsFloat32(ix.constantTensor('cfs')!, '.'))).toEqual([0.5, 1.5]);
    expect(ix.constantTensor('mm')).toBeUndefined();
    expect(ix.constantTensor('x')).toBeUndefined();
  });

  it('gives a stable topological order and names the nodes of a cycle', () => {
    const g = fiveNodes();
    const ix = new GraphIndex(g);
    expect(ix.topologicalOrder()).toEqual(g.node); // already sorted: unchanged
    const [c, mm, rs, tr, add] = g.node!;
    g.node = [add!, tr!, c!, rs!, mm!];
    expect(new GraphIndex(g).topologicalOrder().map((n) => n.name)).toEqual(['shape_const', 'matmul', 'reshape', 'transpose', 'add']);
    g.node = [node('Relu', ['b'], ['a'], { name: 'n1' }), node('Relu', ['a'], ['b'], { name: 'n2' }), c!];
    expect(() => new GraphIndex(g).topologicalOrder()).toThrow(/cycle: 2 nodes wait on each other \(e\.g\. "n1", "n2"\)/);
  });

  it('sees tensors read inside subgraphs as implicit uses', () => {
    const body = graph({ outputs: ['o'], nodes: [node('Identity', ['mm'], ['o'], { name: 'inner' })] });
    const g = fiveNodes();
    g.node = [...g.node!, { name: 'if', opType: 'If', input: ['cond'], output: ['z'], attribute: [{ name: 'then_branch', type: 5, g: body }] }];
    const ix = new GraphIndex(g);
    expect(ix.consumers('mm').map((u) => [u.node.name, u.input])).toEqual([
      ['reshape', 0],
      ['if', IMPLICIT_INPUT],
    ]);
  });

  it('indexes a real export consistently (TorchScript fixture)', () => {
    const g = decodeModel(readFileSync(fixtures.torchscript)).graph!;
    const ix = new GraphIndex(g);
    let edges = 0;
    for (const n of ix.nodes) {
      (n.input ?? []).forEach((name, input) => {
        if (!name) return;
        edges++;
        expect(ix.consumers(name).some((u) => u.node === n && u.input === input)).toBe(true);
        expect(ix.producer(name) !== undefined || ix.initializer(name) !== undefined || ix.isGraphInput(name)).toBe(true);
      });
      (n.output ?? []).forEach((name, output) => expect(ix.producer(name)).toEqual({ node: n, output }));
    }
    expect(edges).toBeGreaterThan(100);
    expect(ix.topologicalOrder()).toEqual(g.node); // exporters emit sorted graphs
  });
});
