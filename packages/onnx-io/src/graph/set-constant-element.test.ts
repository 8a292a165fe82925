import { describe, expect, it } from 'vitest';
import { decodeModel, encodeModel } from '../proto/codec.js';
import { DataType, type GraphProto } from '../proto/types.js';
import { inlineTensorIntegers } from '../tensor/tensor-data.js';
import { GraphIndex } from './graph-index.js';
import { setConstantElement } from './set-constant-element.js';
import { constantInts, f32, graph, i64, model, node } from './graph.testutil.js';

// attention-like reshape: [batch, seq, heads, headDim] from an initializer and from a Constant node
const fiveNodes = () =>
  graph({
    inputs: [['x', DataType.FLOAT, [1, 3, 8]]],
    outputs: ['y'],
    initializers: [f32('Wq', [8, 8]), i64('q_shape', [1, 3, 4, 2])],
    nodes: [
      node('MatMul', ['x', 'Wq'], ['q'], { name: 'q_proj' }),
      node('Reshape', ['q', 'q_shape'], ['q4'], { name: 'q_reshape' }),
      constantInts('back_const', 'back_shape', [1, 3, 8]),
      node('Reshape', ['q4', 'back_shape'], ['q3'], { name: 'back_reshape' }),
      node('Identity', ['q3'], ['y'], { name: 'out' }),
    ],
  });

const values = (g: GraphProto, name: string) => inlineTensorIntegers(new GraphIndex(g).constantTensor(name)!);

describe('setConstantElement', () => {
  it('rewrites an unshared initializer in place', () => {
    const g = fiveNodes();
    const res = setConstantElement(g, { node: 'q_reshape', input: 1, element: 2 }, 3);
    expect(res).toEqual({ modified: true, constant: 'q_shape', cloned: false });
    expect(values(g, 'q_shape')).toEqual([1, 3, 3, 2]);
    expect(g.initializer!.map((t) => t.name)).toEqual(['Wq', 'q_shape']);
    expect(setConstantElement(g, { node: 'q_reshape', input: 1, element: 2 }, 3).modified).toBe(false);
  });

  it('rewrites an unshared Constant node in place', () => {
    const g = fiveNodes();
    expect(setConstantElement(g, { node: 'back_reshape', input: 1, element: 2 }, 6)).toEqual({ modified: true, constant: 'back_shape', cloned: false });
    expect(values(g, 'back_shape')).toEqual([1, 3, 6]);
    expect(g.node!.length).toBe(5);
  });

  it('clones a shared initializer so that only this use changes', () => {
    const g = fiveNodes();
    g.node = [...g.node!, node('Reshape', ['q', 'q_shape'], ['k4'], { name: 'k_reshape' })];
    const res = setConstantElement(g, { node: 'k_reshape', input: 1, element: 2 }, 1);
    expect(res.cloned).toBe(true);
    expect(values(g, 'q_shape')).toEqual([1, 3, 4, 2]);
    expect(values(g, res.constant)).toEqual([1, 3, 1, 2]);
    const ix = new GraphIndex(g);
    expect(ix.node('k_reshape')!.input).toEqual(['q', res.constant]);
    expect(ix.node('q_reshape')!.input).toEqual(['q', 'q_shape']);
    expect(g.initializer!.map((t) => t.name)).toEqual(['Wq', 'q_shape', res.constant]);
  });

  it('clones a shared Constant node right after the original (graph stays sorted)', () => {
    const g = fiveNodes();
    g.node = [...g.node!, node('Reshape', ['x', 'back_shape'], ['x2'], { name: 'other' })];
    const res = setConstantElement(g, { node: 'back_reshape', input: 1, element: 1 }, 5);
    expect(res.cloned).toBe(true);
    expect(g.node!.map((n) => n.opType)).toEqual(['MatMul', 'Reshape', 'Constant', 'Constant', 'Reshape', 'Identity', 'Reshape']);
    expect(values(g, 'back_shape')).toEqual([1, 3, 8]);
    expect(values(g, res.constant)).toEqual([1, 5, 8]);
    expect(new GraphIndex(g).topologicalOrder()).toEqual(g.node);
  });

  it('treats a second input slot of the same node and a graph output as other uses', () => {
    const g = fiveNodes();
    g.node = [...g.node!, node('Concat', ['q_shape', 'q_shape'], ['both'], { name: 'cat', attrs: { axis: 0 } })];
    expect(setConstantElement(g, { node: 'cat', input: 1, element: 0 }, 2).cloned).toBe(true);
    const h = fiveNodes();
    h.output = [...h.output!, { name: 'back_shape' }];
    expect(setConstantElement(h, { node: 'back_reshape', input: 1, element: 0 }, 2).cloned).toBe(true);
    expect(values(h, 'back_shape')).toEqual([1, 3, 8]);
  });

  it('works on decoded protobuf messages, and the result encodes', () => {
    const decoded = decodeModel(encodeModel(model(fiveNodes())));
    const g = decoded.graph!;
    g.node = [...g.node!, node('Reshape', ['q', 'q_shape'], ['k4'], { name: 'k_reshape' })];
    setConstantElement(g, { node: 'q_reshape', input: 1, element: 2 }, 2);
    setConstantElement(g, { node: 'back_reshape', input: 1, element: 2 }, 4);
    const again = decodeModel(encodeModel(decoded)).graph!;
    expect(values(again, 'q_shape')).toEqual([1, 3, 4, 2]);
    expect(values(again, 'back_shape')).toEqual([1, 3, 4]);
    const q = new GraphIndex(again).node('q_reshape')!.input![1]!;
    expect(values(again, q)).toEqual([1, 3, 2, 2]);
  });

  it('explains inputs that are not a rewritable constant', () => {
    const g = fiveNodes();
    expect(() => setConstantElement(g, { node: 'back_reshape', input: 0, element: 0 }, 1)).toThrow(/"q4"\) is not a constant: it is computed by Reshape node "q_reshape"/);
    expect(() => setConstantElement(g, { node: 'q_proj', input: 1, element: 0 }, 1)).toThrow(/not a 1-D int64 constant/);
    expect(() => setConstantElement(g, { node: 'q_reshape', input: 1, element: 4 }, 1)).toThrow(/has 4 elements; element 4 is out of range/);
    expect(() => setConstantElement(g, { node: 'q_reshape', input: 2, element: 0 }, 1)).toThrow(/input 2 of node "q_reshape" does not exist/);
  });
});
