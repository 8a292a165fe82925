/**
 * A tensor in a graph: its name, or, when the value exists only as an unnamed optional output (e.g.
 * SkipSimplifiedLayerNormalization's residual sum), the node and output slot that produce it.
 * `materialiseTensor` gives such a slot a name on a copy of the graph.
 */
export type TensorRef = string | { node: string; output: number };
