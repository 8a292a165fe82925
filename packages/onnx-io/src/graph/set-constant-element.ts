import type { AttributeProto, GraphProto, NodeProto, TensorProto } from '../proto/types.js';
import { DataType, toNumber } from '../proto/types.js';
import { isExternal } from '../external-data/location.js';
import { inlineTensorBytes } from '../tensor/tensor-data.js';
import { GraphError } from './errors.js';
import { GraphIndex, constantAttributeTensor, isConstantNode } from './graph-index.js';

/** One element of the 1-D int64 constant that feeds a node input (a ShapeUse without its role). */
export interface ConstantElementUse {
  node: string;
  input: number;
  element: number;
}

export interface SetConstantElementResult {
  modified: boolean;
  /** the tensor name that now feeds the input (a new one when the constant was cloned) */
  constant: string;
  /** true when the constant had other uses and this use got its own copy */
  cloned: boolean;
}

/**
 * Rewrite one element of the 1-D int64 constant (initializer or Constant node) feeding `use.node`'s
 * input `use.input`. When the constant has other uses (other nodes, other inputs, a graph output or a
 * subgraph), it is cloned first so that only this use sees the change. Mutates `graph`.
 */
export function setConstantElement(graph: GraphProto, use: ConstantElementUse, value: number): SetConstantElementResult {
  if (!Number.isSafeInteger(value)) throw new GraphError(`setConstantElement: ${value} is not an integer`);
  const index = new GraphIndex(graph);
  const node = index.requireNode(use.node);
  const name = node.input?.[use.input];
  const where = `input ${use.input} of node "${use.node}"`;
  if (!name) throw new GraphError(`${where} does not exist (the node has ${node.input?.length ?? 0} inputs)`);

  const init = index.initializer(name);
  const producer = index.producer(name);
  let tensor: TensorProto | undefined;
  let constNode: NodeProto | undefined;
  let attr: AttributeProto | undefined;
  if (init) {
    if (index.isGraphInput(name)) throw new GraphError(`${where} ("${name}") is also a graph input, so callers may override it; it is not a constant`);
    tensor = init;
  } else if (producer && isConstantNode(producer.node)) {
    constNode = producer.node;
    attr = constNode.attribute?.[0];
    tensor = attr ? constantAttributeTensor(attr, name) : undefined;
    if (!attr || (attr.name !== 'value' && attr.name !== 'value_ints') || !tensor) {
      throw new GraphError(`${where} comes from Constant "${constNode.name}" whose attribute is "${attr?.name}", not an int64 list`);
    }
  } else {
    const what = producer ? `computed by ${producer.node.opType} node "${producer.node.name}"` : 'a graph input or undefined';
    throw new GraphError(`${where} ("${name}") is not a constant: it is ${what}`);
  }

  const dims = (tensor.dims ?? []).map((d) => toNumber(d));
  if (tensor.dataType !== DataType.INT64 || dims.length !== 1) {
    throw new GraphError(`${where} ("${name}") is not a 1-D int64 constant (type ${tensor.dataType}, dims [${dims}])`);
  }
  if (isExternal(tensor)) throw new GraphError(`${where} ("${name}") keeps its data in an external file; load it inline before rewriting it`);
  const bytes = inlineTensorBytes(tensor);
  const values = new BigInt64Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  if (!Number.isInteger(use.element) || use.element < 0 || use.element >= values.length) {
    throw new GraphError(`${where} ("${name}") has ${values.length} elements; element ${use.element} is out of range`);
  }
  if (values[use.element] === BigInt(value)) return { modified: false, constant: name, cloned: false };
  values[use.element] = BigInt(value);
  const rawData = new Uint8Array(values.buffer);

  const shared = index.consumers(name).some((u) => u.node !== node || u.input !== use.input) || index.isGraphOutput(name);
  const newName = shared ? index.freshName(`${name}__${use.node}_in${use.input}`) : name;
  const { int64Data: _i, rawData: _r, ...rest } = tensor;

  if (!constNode) {
    const updated: TensorProto = { ...rest, name: newName, rawData };
    const list = graph.initializer ?? [];
    const at = list.indexOf(tensor);
    graph.initializer = shared ? [...list.slice(0, at + 1), updated, ...list.slice(at + 1)] : list.map((t, i) => (i === at ? updated : t));
  } else {
    const newAttr: AttributeProto =
      attr!.name === 'value' ? { ...attr!, t: { ...rest, rawData } } : { ...attr!, ints: Array.from(values, (v) => Number(v)) };
    const attrs = constNode.attribute ?? [];
    if (shared) {
      const clone: NodeProto = {
        ...constNode,
        name: index.freshName(`${constNode.name || name}__${use.node}_in${use.input}`),
        output: [newName],
        attribute: [newAttr, ...attrs.slice(1)],
      };
      const nodes = graph.node ?? [];
      const at = index.indexOf(constNode);
      graph.node = [...nodes.slice(0, at + 1), clone, ...nodes.slice(at + 1)];
    } else {
      constNode.attribute = [newAttr, ...attrs.slice(1)];
    }
  }
  if (shared) node.input = (node.input ?? []).map((n, i) => (i === use.input ? newName : n));
  return { modified: true, constant: newName, cloned: shared };
}
