import { describe, expect, it } from 'vitest';
import { DataType } from '../proto/types.js';
import { removeUnused } from './remove-unused.js';
import { f32, graph, node, nodeNames, valueInfo } from './graph.testutil.js';

const fiveNodes = () => {
  const g = graph({
    inputs: [['x', DataType.FLOAT, [1, 4]], ['unused_input', DataType.FLOAT, [1]]],
    outputs: ['y'],
    initializers: [f32('W', [4, 4]), f32('W_dead', [4, 4]), f32('B', [4])],
    nodes: [
      node('MatMul', ['x', 'W'], ['mm'], { name: 'matmul' }),
      node('MatMul', ['x', 'W_dead'], ['dead'], { name: 'dead_matmul' }),
      node('Relu', ['dead'], ['dead2'], { name: 'dead_relu' }),
      node('Add', ['mm', 'B'], ['a'], { name: 'add' }),
      node('Identity', ['a'], ['y'], { name: 'out' }),
    ],
  });
  g.valueInfo = [valueInfo('mm'), valueInfo('dead2')];
  return g;
};

describe('removeUnused', () => {
  it('drops dead chains, their initializers and value infos; keeps graph inputs', () => {
    const g = fiveNodes();
    expect(removeUnused(g)).toEqual({ modified: true, removedNodes: 2, removedInitializers: 1 });
    expect(nodeNames(g)).toEqual(['matmul', 'add', 'out']);
    expect(g.initializer!.map((t) => t.name)).toEqual(['W', 'B']);
    expect(g.input!.map((v) => v.name)).toEqual(['x', 'unused_input']);
    expect(g.valueInfo!.map((v) => v.name)).toEqual(['mm']);
    expect(removeUnused(g)).toEqual({ modified: false, removedNodes: 0, removedInitializers: 0 });
  });

  it('keeps a node whose outputs are only partly used, and a node feeding a subgraph', () => {
    const g = fiveNodes();
    g.node![1] = node('Split', ['x'], ['s0', 's1'], { name: 'split' });
    g.node![2] = node('Relu', ['s1'], ['r'], { name: 'relu' });
    const body = graph({ outputs: ['o'], nodes: [node('Identity', ['r'], ['o'], { name: 'inner' })] });
    g.node = [...g.node!, { name: 'if', opType: 'If', input: ['cond'], output: ['z'], attribute: [{ name: 'then_branch', type: 5, g: body }] }];
    g.output = [...g.output!, { name: 'z' }];
    removeUnused(g);
    expect(nodeNames(g)).toEqual(['matmul', 'split', 'relu', 'add', 'out', 'if']);
  });
});
