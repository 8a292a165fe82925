import { describe, expect, it } from 'vitest';
import { DataType, inlineTensorIntegers, makeTensor, type GraphProto, type TensorProto } from '@llm-bip/onnx-io';
import { applyGraphEdit, type ApplyContext } from './apply-graph.js';
import { EditableGraph } from './graph-ops.js';

const int64 = (name: string, v: number[]) => makeTensor(name, DataType.INT64, [v.length], v);

/** Two Reshapes reading one Concat-built shape [0, 0, heads, 8], as the dynamo exporter shares them. */
function sharedConcatGraph(): GraphProto {
  return {
    node: [
      { name: 'concat', opType: 'Concat', input: ['zero', 'zero', 'heads', 'dim'], output: ['shape'], attribute: [{ name: 'axis', type: 2, i: 0 }] },
      { name: 'reshape_a', opType: 'Reshape', input: ['xa', 'shape'], output: ['ya'] },
      { name: 'reshape_b', opType: 'Reshape', input: ['xb', 'shape'], output: ['yb'] },
    ],
    initializer: [int64('zero', [0]), int64('heads', [4]), int64('dim', [8])],
    input: [{ name: 'xa' }, { name: 'xb' }],
    output: [{ name: 'ya' }, { name: 'yb' }],
    valueInfo: [],
  };
}

function ctxFor(graph: GraphProto): ApplyContext {
  return { g: new EditableGraph(graph), baseDir: '.', alias: new Map(), privateShapes: new Map(), emptyCaches: new Map() };
}

const constant = (g: GraphProto, name: string): number[] => inlineTensorIntegers(g.initializer!.find((t) => t.name === name) as TensorProto);

describe('shape-element edits', () => {
  it('give the op named by shapeOf its own copy of a shared shape builder', async () => {
    const graph = sharedConcatGraph();
    const ctx = ctxFor(graph);
    const use = { node: 'concat', input: 2, element: 0, role: 'numHeads' as const, shapeOf: { node: 'reshape_a', input: 1, element: 2 } };
    await applyGraphEdit({ kind: 'shape-element', layer: 0, use, from: 4, value: 2 }, ctx);
    const a = graph.node!.find((n) => n.name === 'reshape_a')!;
    const b = graph.node!.find((n) => n.name === 'reshape_b')!;
    expect(b.input![1]).toBe('shape');
    expect(a.input![1]).not.toBe('shape');
    const copy = graph.node!.find((n) => n.output![0] === a.input![1])!;
    expect(copy.opType).toBe('Concat');
    expect(constant(graph, copy.input![2]!)).toEqual([2]);
    expect(constant(graph, 'heads')).toEqual([4]); // reshape_b still sees 4 heads
    // the second edit for the other op takes the original in place (nobody else reads it now)
    await applyGraphEdit({ kind: 'shape-element', layer: 1, use: { ...use, shapeOf: { node: 'reshape_b', input: 1, element: 2 } }, from: 4, value: 3 }, ctx);
    expect(b.input![1]).toBe('shape');
    expect(constant(graph, graph.node!.find((n) => n.name === 'concat')!.input![2]!)).toEqual([3]);
    expect(constant(graph, copy.input![2]!)).toEqual([2]);
  });

  it('refuses an element that does not hold the quantity the spec says', async () => {
    const graph = sharedConcatGraph();
    const use = { node: 'concat', input: 3, element: 0, role: 'numHeads' as const };
    await expect(applyGraphEdit({ kind: 'shape-element', layer: 0, use, from: 4, value: 2 }, ctxFor(graph))).rejects.toThrow(/holds 8, but the layer's numHeads is 4/);
  });
});

describe('scalar shape constants', () => {
  it('get a private copy for the edited input', async () => {
    const graph: GraphProto = {
      node: [
        { name: 'mul_a', opType: 'Mul', input: ['xa', 'four'], output: ['ya'] },
        { name: 'mul_b', opType: 'Mul', input: ['xb', 'four'], output: ['yb'] },
      ],
      initializer: [makeTensor('four', DataType.INT64, [], [4])],
      input: [{ name: 'xa' }, { name: 'xb' }],
      output: [{ name: 'ya' }, { name: 'yb' }],
      valueInfo: [],
    };
    await applyGraphEdit({ kind: 'shape-element', layer: 0, use: { node: 'mul_a', input: 1, element: 0, role: 'numHeads' }, from: 4, value: 3 }, ctxFor(graph));
    const a = graph.node![0]!;
    expect(a.input![1]).not.toBe('four');
    expect(constant(graph, a.input![1]!)).toEqual([3]);
    expect(constant(graph, 'four')).toEqual([4]);
  });
});

describe('bypass', () => {
  it('rewires readers of the residual sum to the block input, keeping graph output names', async () => {
    const graph: GraphProto = {
      node: [
        { name: 'branch', opType: 'Neg', input: ['x'], output: ['b'] },
        { name: 'residual', opType: 'Add', input: ['x', 'b'], output: ['m'] },
        { name: 'after', opType: 'Relu', input: ['m'], output: ['y'] },
      ],
      initializer: [],
      input: [{ name: 'x' }],
      output: [{ name: 'y' }, { name: 'm' }],
      valueInfo: [],
    };
    await applyGraphEdit({ kind: 'bypass', layer: 0, block: 'attention', residual: 'm', base: 'x', branch: 'b' }, ctxFor(graph));
    expect(graph.node!.find((n) => n.name === 'after')!.input).toEqual(['x']);
    const identity = graph.node!.find((n) => n.opType === 'Identity')!;
    expect(identity.input).toEqual(['x']);
    expect(identity.output).toEqual(['m']);
    expect(graph.node!.filter((n) => n.output!.includes('m'))).toHaveLength(1);
  });
});
