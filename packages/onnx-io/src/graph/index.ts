export { GraphError } from './errors.js';
export {
  GraphIndex,
  IMPLICIT_INPUT,
  isConstantNode,
  constantAttributeTensor,
  subgraphOuterNames,
  type Producer,
  type Use,
} from './graph-index.js';
export { addGraphOutputs, type NewGraphOutput } from './add-graph-outputs.js';
export { materialiseTensor } from './materialise-tensor.js';
export type { TensorRef } from './tensor-ref.js';
export { replaceInitializer } from './replace-initializer.js';
export { setConstantElement, type ConstantElementUse, type SetConstantElementResult } from './set-constant-element.js';
export { setNodeAttribute, type AttributeKind } from './set-node-attribute.js';
export { removeUnused } from './remove-unused.js';
export { toposort } from './toposort.js';
export { cloneModel, cloneGraph } from './clone.js';
