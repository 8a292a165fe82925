import { describe, expect, it } from 'vitest';
import { DataType } from '../proto/types.js';
import { readTensorAsFloat32 } from '../tensor/tensor-data.js';
import { replaceInitializer } from './replace-initializer.js';
import { f32, graph, node, valueInfo } from './graph.testutil.js';

const fiveNodes = () => {
  const g = graph({
    inputs: [['x', DataType.FLOAT, [1, 4]]],
    outputs: ['y'],
    initializers: [f32('W', [4, 3]), f32('B', [3]), f32('W2', [3, 2])],
    nodes: [
      node('MatMul', ['x', 'W'], ['mm'], { name: 'matmul' }),
      node('Add', ['mm', 'B'], ['a'], { name: 'add' }),
      node('Relu', ['a'], ['r'], { name: 'relu' }),
      node('MatMul', ['r', 'W2'], ['m2'], { name: 'matmul2' }),
      node('Identity', ['m2'], ['y'], { name: 'out' }),
    ],
  });
  g.valueInfo = [valueInfo(['W', DataType.FLOAT, [4, 3]]), valueInfo(['a', DataType.FLOAT, [1, 3]])];
  return g;
};

describe('replaceInitializer', () => {
  it('swaps the tensor in place and updates its value info', async () => {
    const g = fiveNodes();
    const pruned = f32('W', [4, 2], [1, 2, 3, 4, 5, 6, 7, 8]);
    expect(replaceInitializer(g, pruned)).toEqual({ modified: true });
    expect(g.initializer!.map((t) => t.name)).toEqual(['W', 'B', 'W2']);
    expect(Array.from(await readTensorAsFloat32(g.initializer![0]!, '.'))).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(g.valueInfo![0]!.type!.tensorType!.shape!.dim).toEqual([{ dimValue: 4 }, { dimValue: 2 }]);
    expect(g.valueInfo![1]!.type!.tensorType!.shape!.dim).toEqual([{ dimValue: 1 }, { dimValue: 3 }]);
    expect(replaceInitializer(g, pruned)).toEqual({ modified: false });
  });

  it('refuses an unknown or unnamed tensor', () => {
    expect(() => replaceInitializer(fiveNodes(), f32('V', [1]))).toThrow(/has no initializer "V"/);
    expect(() => replaceInitializer(fiveNodes(), { ...f32('V', [1]), name: '' })).toThrow(/has no name/);
  });
});
