/**
 * A tiny helper for writing ONNX graphs by hand: nodes whose outputs are named after the node
 * (`<node>_output_<i>`, the torch.onnx convention), and constant initializers.
 */
import { DataType, type AttributeProto, type DataTypeCode, type NodeProto, type TensorProto, type ValueInfoProto, makeTensor, type TensorValues } from '@llm-bip/onnx-io';

const ATTR = { FLOAT: 1, INT: 2, INTS: 7 } as const;

export type AttrValue = number | number[] | { float: number };

export function attr(name: string, v: AttrValue): AttributeProto {
  if (typeof v === 'object' && !Array.isArray(v)) return { name, type: ATTR.FLOAT, f: v.float };
  if (Array.isArray(v)) return { name, type: ATTR.INTS, ints: v };
  return { name, type: ATTR.INT, i: v };
}

export class GraphBuilder {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  private readonly names = new Set<string>();

  /** Add a node; returns its output names. */
  node(opType: string, name: string, inputs: string[], attrs: Record<string, AttrValue> = {}, outputs: number | string[] = 1): string[] {
    if (this.names.has(name)) throw new Error(`graph builder: duplicate node name ${name}`);
    this.names.add(name);
    const out = typeof outputs === 'number' ? Array.from({ length: outputs }, (_, i) => `${name}_output_${i}`) : outputs;
    this.nodes.push({
      name,
      opType,
      input: inputs,
      output: out,
      attribute: Object.entries(attrs).map(([k, v]) => attr(k, v)),
    });
    return out;
  }

  /** Single-output node. */
  op(opType: string, name: string, inputs: string[], attrs: Record<string, AttrValue> = {}, output?: string): string {
    return this.node(opType, name, inputs, attrs, output === undefined ? 1 : [output])[0]!;
  }

  initializer(t: TensorProto): string {
    if (this.names.has(`init:${t.name}`)) throw new Error(`graph builder: duplicate initializer ${t.name}`);
    this.names.add(`init:${t.name}`);
    this.initializers.push(t);
    return t.name!;
  }

  constant(name: string, dataType: DataTypeCode, dims: number[], data: TensorValues | number[]): string {
    return this.initializer(makeTensor(name, dataType, dims, data));
  }

  int64(name: string, values: number[], scalar = false): string {
    return this.constant(name, DataType.INT64, scalar ? [] : [values.length], values);
  }
}

export type Dim = number | string;

export function valueInfo(name: string, elemType: DataTypeCode, dims: Dim[]): ValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  } as ValueInfoProto;
}
