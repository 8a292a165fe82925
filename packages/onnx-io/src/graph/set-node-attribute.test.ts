import { describe, expect, it } from 'vitest';
import { toNumber } from '../proto/types.js';
import { setNodeAttribute } from './set-node-attribute.js';
import { GraphIndex } from './graph-index.js';
import { f32, graph, node } from './graph.testutil.js';

const fiveNodes = () =>
  graph({
    inputs: ['q', 'k', 'v'],
    outputs: ['y'],
    initializers: [f32('W', [8, 8])],
    nodes: [
      node('GroupQueryAttention', ['q', 'k', 'v'], ['ctx'], { name: 'gqa', domain: 'com.microsoft', attrs: { num_heads: 8, kv_num_heads: 2, scale: 0.125 } }),
      node('MatMul', ['ctx', 'W'], ['o'], { name: 'o_proj' }),
      node('Transpose', ['o'], ['t'], { name: 'tr', attrs: { perm: [0, 2, 1, 3] } }),
      node('LeakyRelu', ['t'], ['l'], { name: 'lrelu', attrs: { alpha: 0.25 } }),
      node('Identity', ['l'], ['y'], { name: 'out' }),
    ],
  });

describe('setNodeAttribute', () => {
  it('changes int, float and ints attributes, keeping their type', () => {
    const ix = new GraphIndex(fiveNodes());
    const gqa = ix.node('gqa')!;
    expect(setNodeAttribute(gqa, 'num_heads', 6)).toEqual({ modified: true });
    expect(setNodeAttribute(gqa, 'num_heads', 6)).toEqual({ modified: false });
    const a = gqa.attribute!.find((x) => x.name === 'num_heads')!;
    expect([a.type, toNumber(a.i)]).toEqual([2, 6]);
    expect(gqa.attribute!.map((x) => x.name)).toEqual(['num_heads', 'kv_num_heads', 'scale']);
    expect(setNodeAttribute(ix.node('lrelu')!, 'alpha', 0.1)).toEqual({ modified: true });
    expect(ix.node('lrelu')!.attribute![0]!.f).toBe(0.1);
    expect(setNodeAttribute(ix.node('tr')!, 'perm', [0, 1, 3, 2])).toEqual({ modified: true });
    expect(ix.node('tr')!.attribute![0]!.ints).toEqual([0, 1, 3, 2]);
  });

  it('adds a new attribute only when told its kind', () => {
    const gqa = new GraphIndex(fiveNodes()).node('gqa')!;
    expect(() => setNodeAttribute(gqa, 'softcap', 1)).toThrow(/does not exist; pass its kind/);
    expect(setNodeAttribute(gqa, 'softcap', 1, 'float')).toEqual({ modified: true });
    expect(gqa.attribute!.at(-1)).toEqual({ name: 'softcap', type: 1, f: 1 });
  });

  it('rejects values of the wrong shape or type', () => {
    const ix = new GraphIndex(fiveNodes());
    expect(() => setNodeAttribute(ix.node('gqa')!, 'num_heads', 2.5)).toThrow(/not integral/);
    expect(() => setNodeAttribute(ix.node('gqa')!, 'num_heads', [2])).toThrow(/pass a single number/);
    expect(() => setNodeAttribute(ix.node('gqa')!, 'num_heads', 2, 'float')).toThrow(/is int, not float/);
    expect(() => setNodeAttribute(ix.node('tr')!, 'perm', 1)).toThrow(/is ints: pass an array/);
  });
});
