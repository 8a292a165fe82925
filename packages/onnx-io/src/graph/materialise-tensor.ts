import type { TensorRef } from './tensor-ref.js';
import type { GraphProto } from '../proto/types.js';
import { GraphError } from './errors.js';
import { GraphIndex } from './graph-index.js';

/**
 * The tensor name behind a TensorRef. For `{ node, output }` whose slot is unnamed or missing (an
 * optional output the exporter left off), give the slot a fresh unique name, extending the node's
 * output list with empty slots if needed. Mutates `graph`; work on a copy when the original must stay.
 */
export function materialiseTensor(graph: GraphProto, ref: TensorRef): { name: string; modified: boolean } {
  const index = new GraphIndex(graph);
  if (typeof ref === 'string') {
    if (!index.hasTensor(ref)) throw new GraphError(`tensor "${ref}" does not exist in graph "${graph.name ?? ''}"`);
    return { name: ref, modified: false };
  }
  const node = index.requireNode(ref.node);
  if (!Number.isInteger(ref.output) || ref.output < 0) throw new GraphError(`node "${ref.node}": output slot ${ref.output} is not a valid index`);
  const outputs = [...(node.output ?? [])];
  const existing = outputs[ref.output];
  if (existing) return { name: existing, modified: false };
  const name = index.freshName(`${ref.node}/output_${ref.output}`);
  while (outputs.length <= ref.output) outputs.push('');
  outputs[ref.output] = name;
  node.output = outputs;
  return { name, modified: true };
}
