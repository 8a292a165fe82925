import { describe, expect, it } from 'vitest';
import { toposort } from './toposort.js';
import { f32, graph, node, nodeNames } from './graph.testutil.js';

const fiveNodes = () =>
  graph({
    inputs: ['x'],
    outputs: ['y', 'side'],
    initializers: [f32('W', [4, 4])],
    nodes: [
      node('Identity', ['a'], ['y'], { name: 'out' }),
      node('MatMul', ['x', 'W'], ['mm'], { name: 'matmul' }),
      node('Neg', ['x'], ['side'], { name: 'side' }),
      node('Relu', ['mm'], ['r'], { name: 'relu' }),
      node('Add', ['r', 'mm'], ['a'], { name: 'add' }),
    ],
  });

describe('toposort', () => {
  it('moves only what must move, keeping independent nodes in their order', () => {
    const g = fiveNodes();
    expect(toposort(g)).toEqual({ modified: true });
    expect(nodeNames(g)).toEqual(['matmul', 'side', 'relu', 'add', 'out']);
    expect(toposort(g)).toEqual({ modified: false });
  });

  it('puts a node appended at the end before its consumers', () => {
    const g = fiveNodes();
    toposort(g);
    g.node![3]!.input = ['r', 'late'];
    g.node = [...g.node!, node('Sqrt', ['mm'], ['late'], { name: 'late' })];
    toposort(g);
    expect(nodeNames(g)).toEqual(['matmul', 'side', 'relu', 'late', 'add', 'out']);
  });
});
