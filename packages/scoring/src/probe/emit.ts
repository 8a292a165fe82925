/**
 * A minimal node emitter for probe subgraphs: fresh names under one prefix, constants as
 * initializers, and Reduce* ops written for the model's opset (axes became an input in opset 13
 * for ReduceSum and in opset 18 for the others).
 */
import { DataType, makeTensor, type AttributeProto, type GraphProto, type NodeProto, type TensorProto } from '@llm-bip/onnx-io';

type Attr = number | number[];

export class Emitter {
  private counter = 0;
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];

  constructor(
    private readonly prefix: string,
    readonly opset: number,
  ) {}

  name(hint: string): string {
    return `${this.prefix}/${hint}_${this.counter++}`;
  }

  /** One node; its single output is named from `hint`, or exactly `output` when given. */
  op(opType: string, inputs: string[], hint: string, attrs: Record<string, Attr> = {}, output?: string): string {
    const out = output ?? this.name(hint);
    this.nodes.push({
      name: out,
      opType,
      input: inputs,
      output: [out],
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return out;
  }

  int64(values: number[], hint: string): string {
    const name = this.name(hint);
    this.initializers.push(makeTensor(name, DataType.INT64, [values.length], values));
    return name;
  }

  float(values: Float32Array | number[], dims: number[], hint: string): string {
    const name = this.name(hint);
    this.initializers.push(makeTensor(name, DataType.FLOAT, dims, values instanceof Float32Array ? values : Float32Array.from(values)));
    return name;
  }

  scalar(v: number, hint: string): string {
    return this.float([v], [], hint);
  }

  /** Reduce over `axes`, dropping them (keepdims = 0). */
  reduce(
    opType: 'ReduceSum' | 'ReduceSumSquare' | 'ReduceL1' | 'ReduceL2' | 'ReduceMax' | 'ReduceMean',
    x: string,
    axes: number[],
    hint: string,
    output?: string,
  ): string {
    const axesAsInput = opType === 'ReduceSum' ? this.opset >= 13 : this.opset >= 18;
    if (axesAsInput) return this.op(opType, [x, this.int64(axes, `${hint}_axes`)], hint, { keepdims: 0 }, output);
    return this.op(opType, [x], hint, { axes, keepdims: 0 }, output);
  }

  unsqueeze(x: string, axes: number[], hint: string): string {
    if (this.opset >= 13) return this.op('Unsqueeze', [x, this.int64(axes, `${hint}_axes`)], hint);
    return this.op('Unsqueeze', [x], hint, { axes });
  }

  reshape(x: string, shape: number[], hint: string): string {
    return this.op('Reshape', [x, this.int64(shape, `${hint}_shape`)], hint);
  }

  /** Append everything emitted to the graph (after the existing nodes: their producers come first). */
  commit(graph: GraphProto): void {
    graph.node = [...(graph.node ?? []), ...this.nodes];
    graph.initializer = [...(graph.initializer ?? []), ...this.initializers];
  }
}

function attribute(name: string, v: Attr): AttributeProto {
  // AttributeType: INT = 2, INTS = 7
  return Array.isArray(v) ? { name, type: 7, ints: v } : { name, type: 2, i: v };
}
