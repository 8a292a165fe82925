/**
 * A tiny inline graph builder for tests: write a graph in a few lines, the way ONNX text format reads.
 *
 *   const g = graph({
 *     inputs: [['x', DataType.FLOAT, [1, 4]]],
 *     outputs: ['y'],
 *     initializers: [f32('W', [4, 4])],
 *     nodes: [node('MatMul', ['x', 'W'], ['y'], { name: 'mm' })],
 *   });
 */
import { DataType, type AttributeProto, type DataTypeCode, type GraphProto, type ModelProto, type NodeProto, type TensorProto, type ValueInfoProto } from '../proto/types.js';
import { makeTensor } from '../tensor/tensor-data.js';

export type ValueSpec = string | [name: string, elemType?: number, shape?: Array<number | string | null>];

/** An attribute value; plain numbers are INT when integral, else FLOAT (use `asFloat` for 1.0). */
export type AttrValue = number | number[] | string | TensorProto | { float: number } | { floats: number[] };

export const asFloat = (v: number | number[]) => (Array.isArray(v) ? { floats: v } : { float: v });

const AttributeType = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7 } as const;

export function attribute(name: string, v: AttrValue): AttributeProto {
  if (typeof v === 'string') return { name, type: AttributeType.STRING, s: new TextEncoder().encode(v) };
  if (typeof v === 'number') return Number.isInteger(v) ? { name, type: AttributeType.INT, i: v } : { name, type: AttributeType.FLOAT, f: v };
  if (Array.isArray(v)) return v.every(Number.isInteger) ? { name, type: AttributeType.INTS, ints: v } : { name, type: AttributeType.FLOATS, floats: v };
  if ('float' in v) return { name, type: AttributeType.FLOAT, f: v.float };
  if ('floats' in v) return { name, type: AttributeType.FLOATS, floats: v.floats };
  return { name, type: AttributeType.TENSOR, t: v };
}

export function node(
  opType: string,
  inputs: string[],
  outputs: string[],
  opts: { name?: string; domain?: string; attrs?: Record<string, AttrValue> } = {},
): NodeProto {
  return {
    name: opts.name ?? `${opType}_${outputs[0] ?? inputs[0] ?? ''}`,
    opType,
    domain: opts.domain ?? '',
    input: inputs,
    output: outputs,
    attribute: Object.entries(opts.attrs ?? {}).map(([k, v]) => attribute(k, v)),
  };
}

/** A Constant node holding a 1-D int64 tensor (the form shape constants take in TorchScript exports). */
export function constantInts(name: string, output: string, values: number[]): NodeProto {
  return node('Constant', [], [output], { name, attrs: { value: i64('', values) } });
}

export function valueInfo(v: ValueSpec): ValueInfoProto {
  const [name, elemType = DataType.FLOAT, shape] = typeof v === 'string' ? [v] : v;
  return {
    name,
    type: {
      tensorType: {
        elemType,
        ...(shape ? { shape: { dim: shape.map((d) => (typeof d === 'number' ? { dimValue: d } : typeof d === 'string' ? { dimParam: d } : {})) } } : {}),
      },
    },
  };
}

export function graph(spec: { name?: string; inputs?: ValueSpec[]; outputs?: ValueSpec[]; initializers?: TensorProto[]; nodes: NodeProto[] }): GraphProto {
  return {
    name: spec.name ?? 'test',
    input: (spec.inputs ?? []).map(valueInfo),
    output: (spec.outputs ?? []).map(valueInfo),
    initializer: spec.initializers ?? [],
    node: spec.nodes,
  };
}

export function model(g: GraphProto, opset = 17): ModelProto {
  return { irVersion: 8, producerName: 'llm-bip-test', opsetImport: [{ domain: '', version: opset }], graph: g };
}

/** float32 initializer; values default to 0, 1, 2, ... */
export function f32(name: string, dims: number[], values?: number[]): TensorProto {
  const n = dims.reduce((a, b) => a * b, 1);
  return makeTensor(name, DataType.FLOAT, dims, values ?? Array.from({ length: n }, (_, i) => i));
}

/** 1-D int64 initializer. */
export function i64(name: string, values: number[]): TensorProto {
  return makeTensor(name, DataType.INT64 as DataTypeCode, [values.length], values);
}

/** Names of the graph's nodes, in order (handy in expectations). */
export function nodeNames(g: GraphProto): string[] {
  return (g.node ?? []).map((n) => n.name ?? '');
}
