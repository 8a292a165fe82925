import { describe, expect, it } from 'vitest';
import { DataType } from '../proto/types.js';
import { GraphIndex } from './graph-index.js';
import { materialiseTensor } from './materialise-tensor.js';
import { f32, graph, node } from './graph.testutil.js';

// SkipSimplifiedLayerNormalization-like node whose residual-sum output (slot 3) is left off
const fiveNodes = () =>
  graph({
    inputs: [['x', DataType.FLOAT, [1, 4]], ['skip', DataType.FLOAT, [1, 4]]],
    outputs: ['y'],
    initializers: [f32('gamma', [4]), f32('W', [4, 4])],
    nodes: [
      node('SkipSimplifiedLayerNormalization', ['x', 'skip', 'gamma'], ['normed', ''], { name: 'norm', domain: 'com.microsoft' }),
      node('MatMul', ['normed', 'W'], ['mm'], { name: 'matmul' }),
      node('Relu', ['mm'], ['r'], { name: 'relu' }),
      node('Neg', ['r'], ['n'], { name: 'neg' }),
      node('Identity', ['n'], ['y'], { name: 'out' }),
    ],
  });

describe('materialiseTensor', () => {
  it('returns existing names unchanged', () => {
    const g = fiveNodes();
    expect(materialiseTensor(g, 'mm')).toEqual({ name: 'mm', modified: false });
    expect(materialiseTensor(g, { node: 'matmul', output: 0 })).toEqual({ name: 'mm', modified: false });
    expect(() => materialiseTensor(g, 'nope')).toThrow(/tensor "nope" does not exist/);
  });

  it('names an empty slot and a slot past the end of the output list', () => {
    const g = fiveNodes();
    const a = materialiseTensor(g, { node: 'norm', output: 1 });
    expect(a).toEqual({ name: 'norm/output_1', modified: true });
    const b = materialiseTensor(g, { node: 'norm', output: 3 });
    expect(b).toEqual({ name: 'norm/output_3', modified: true });
    const norm = new GraphIndex(g).node('norm')!;
    expect(norm.output).toEqual(['normed', 'norm/output_1', '', 'norm/output_3']);
    expect(new GraphIndex(g).producer('norm/output_3')).toEqual({ node: norm, output: 3 });
  });

  it('picks a fresh name when the natural one is taken', () => {
    const g = fiveNodes();
    g.node![2]!.output = ['norm/output_3'];
    g.node![3]!.input = ['norm/output_3'];
    expect(materialiseTensor(g, { node: 'norm', output: 3 }).name).toBe('norm/output_3_1');
  });
});
