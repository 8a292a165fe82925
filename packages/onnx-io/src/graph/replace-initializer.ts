import type { GraphProto, TensorProto, ValueInfoProto } from '../proto/types.js';
import { toNumber } from '../proto/types.js';
import { GraphError } from './errors.js';

/**
 * Swap the initializer named `tensor.name` for `tensor` (same position). Value infos and graph inputs
 * of that name get the new element type and dims, so shape information never contradicts the data.
 * Mutates `graph`.
 */
export function replaceInitializer(graph: GraphProto, tensor: TensorProto): { modified: boolean } {
  const name = tensor.name;
  if (!name) throw new GraphError('replaceInitializer: the new tensor has no name; set it to the initializer it replaces');
  const list = graph.initializer ?? [];
  const at = list.findIndex((t) => t.name === name);
  if (at < 0) throw new GraphError(`replaceInitializer: graph "${graph.name ?? ''}" has no initializer "${name}"`);
  if (list[at] === tensor) return { modified: false };
  graph.initializer = list.map((t, i) => (i === at ? tensor : t));
  const dims = (tensor.dims ?? []).map((d) => toNumber(d));
  const retype = (v: ValueInfoProto): ValueInfoProto =>
    v.name === name && v.type?.tensorType
      ? { ...v, type: { ...v.type, tensorType: { ...v.type.tensorType, elemType: tensor.dataType ?? 0, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } }
      : v;
  if (graph.input?.some((v) => v.name === name)) graph.input = graph.input.map(retype);
  if (graph.valueInfo?.some((v) => v.name === name)) graph.valueInfo = graph.valueInfo.map(retype);
  return { modified: true };
}
