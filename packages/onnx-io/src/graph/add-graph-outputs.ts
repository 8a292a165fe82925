import type { GraphProto, ValueInfoProto } from '../proto/types.js';
import { GraphError } from './errors.js';
import { GraphIndex } from './graph-index.js';

export interface NewGraphOutput {
  name: string;
  /** ONNX DataType code (DataType.FLOAT, ...) */
  elemType: number;
  /** dims: number = fixed, string = symbolic, null = unknown; omit for unknown rank */
  shape?: Array<number | string | null>;
}

/**
 * Expose existing tensors as graph outputs (taps for statistics). Tensors already exposed are left as
 * they are; a name the graph does not produce is an error. Mutates `graph`.
 */
export function addGraphOutputs(graph: GraphProto, outputs: NewGraphOutput[]): { modified: boolean; added: string[] } {
  const index = new GraphIndex(graph);
  const added: string[] = [];
  const infos: ValueInfoProto[] = [];
  for (const o of outputs) {
    if (!index.hasTensor(o.name)) {
      throw new GraphError(`cannot add graph output "${o.name}": no node, input or initializer produces it (materialise an unnamed output first)`);
    }
    if (index.isGraphOutput(o.name) || added.includes(o.name)) continue;
    added.push(o.name);
    infos.push({
      name: o.name,
      type: {
        tensorType: {
          elemType: o.elemType,
          ...(o.shape ? { shape: { dim: o.shape.map((d) => (typeof d === 'number' ? { dimValue: d } : typeof d === 'string' ? { dimParam: d } : {})) } } : {}),
        },
      },
    });
  }
  if (infos.length > 0) graph.output = [...(graph.output ?? []), ...infos];
  return { modified: infos.length > 0, added };
}
