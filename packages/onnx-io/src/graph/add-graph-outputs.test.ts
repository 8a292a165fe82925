import { describe, expect, it } from 'vitest';
import { DataType } from '../proto/types.js';
import { addGraphOutputs } from './add-graph-outputs.js';
import { f32, graph, node } from './graph.testutil.js';

const fiveNodes = () =>
  graph({
    inputs: [['x', DataType.FLOAT, [2, 4]]],
    outputs: ['y'],
    initializers: [f32('W', [4, 4]), f32('B', [4])],
    nodes: [
      node('MatMul', ['x', 'W'], ['mm'], { name: 'matmul' }),
      node('Add', ['mm', 'B'], ['a'], { name: 'add' }),
      node('Relu', ['a'], ['r'], { name: 'relu' }),
      node('ReduceSumSquare', ['r'], ['ss'], { name: 'sumsq', attrs: { keepdims: 0 } }),
      node('Identity', ['r'], ['y'], { name: 'out' }),
    ],
  });

describe('addGraphOutputs', () => {
  it('appends value infos with type and shape, skipping names already exposed', () => {
    const g = fiveNodes();
    const res = addGraphOutputs(g, [
      { name: 'ss', elemType: DataType.FLOAT, shape: [] },
      { name: 'a', elemType: DataType.FLOAT, shape: ['batch', 4, null] },
      { name: 'y', elemType: DataType.FLOAT },
      { name: 'ss', elemType: DataType.FLOAT },
    ]);
    expect(res).toEqual({ modified: true, added: ['ss', 'a'] });
    expect(g.output!.map((o) => o.name)).toEqual(['y', 'ss', 'a']);
    expect(g.output![2]!.type!.tensorType).toEqual({ elemType: DataType.FLOAT, shape: { dim: [{ dimParam: 'batch' }, { dimValue: 4 }, {}] } });
    expect(addGraphOutputs(g, [{ name: 'a', elemType: DataType.FLOAT }])).toEqual({ modified: false, added: [] });
  });

  it('refuses a tensor the graph does not produce', () => {
    expect(() => addGraphOutputs(fiveNodes(), [{ name: 'ghost', elemType: DataType.FLOAT }])).toThrow(/"ghost": no node, input or initializer produces it/);
  });
});
