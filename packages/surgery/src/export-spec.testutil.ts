/**
 * Test helper: the ModelSpec of a model written by onnx-io's exporter, from its fixed node names.
 * Stand-in until onnx-io's recognisers land; then tests use recogniseModel and this file goes.
 */
import type { LayerSpec, LinearRef, ModelProto, ModelSpec, NormRef, ShapeUse } from '@llm-bip/onnx-io';
import { DataType } from '@llm-bip/onnx-io';

export function exportSpec(model: ModelProto): ModelSpec {
  const g = model.graph!;
  const c = JSON.parse(model.metadataProps!.find((e) => e.key === 'llm_bip.config')!.value!) as {
    hiddenSize: number; numLayers: number; numHeads: number; numKvHeads: number; headDim: number; intermediateSize: number; vocabSize: number; rmsNormEps: number; tieWordEmbeddings: boolean; kvCache: boolean;
  };
  const node = (name: string) => {
    const n = g.node!.find((x) => x.name === name);
    if (!n) throw new Error(`export graph has no node ${name}`);
    return n;
  };
  const out = (name: string) => node(name).output![0]!;
  const linear = (nodeName: string): LinearRef => ({ node: nodeName, weight: node(nodeName).input![1]!, outAxis: 1 });
  const norm = (prefix: string, input: string): NormRef => ({ weight: node(`${prefix}/Mul_weight`).input![1]!, input, output: out(`${prefix}/Mul_weight`), epsilon: c.rmsNormEps });
  const weightType = g.initializer!.find((t) => t.name === 'model.layers.0.self_attn.q_proj.weight')!.dataType === DataType.FLOAT16 ? 'float16' : 'float32';
  const layers: LayerSpec[] = [];
  let x = out('/model/embed_tokens/Gather');
  for (let i = 0; i < c.numLayers; i++) {
    const L = `/model/layers.${i}`;
    const A = `${L}/self_attn`;
    const M = `${L}/mlp`;
    const shapeUses: ShapeUse[] = [];
    const use = (reshape: string, element: number, role: ShapeUse['role']) => {
      if (g.node!.some((n) => n.name === reshape)) shapeUses.push({ node: reshape, input: 1, element, role });
    };
    use(`${A}/Reshape_q`, 2, 'numHeads');
    use(`${A}/Reshape_k`, 2, 'numKvHeads');
    use(`${A}/Reshape_v`, 2, 'numKvHeads');
    use(`${A}/Reshape_context`, 2, 'qWidth');
    for (const kind of ['key', 'value']) {
      if (g.node!.some((n) => n.name === `${A}/Expand_${kind}`)) shapeUses.push({ node: `${A}/Expand_${kind}`, input: 1, element: 2, role: 'kvGroupsRepeat' });
      use(`${A}/Reshape_repeat_${kind}`, 1, 'numHeads');
    }
    const m = out(`${L}/Add_attention_residual`);
    const y = out(`${L}/Add_mlp_residual`);
    layers.push({
      index: i,
      numHeads: c.numHeads,
      numKvHeads: c.numKvHeads,
      headDim: c.headDim,
      intermediateSize: c.intermediateSize,
      input: x,
      attnNorm: norm(`${L}/input_layernorm`, x),
      q: linear(`${A}/q_proj/MatMul`),
      k: linear(`${A}/k_proj/MatMul`),
      v: linear(`${A}/v_proj/MatMul`),
      o: linear(`${A}/o_proj/MatMul`),
      attnContext: out(`${A}/Reshape_context`),
      attnOutput: out(`${A}/o_proj/MatMul`),
      residualMid: m,
      ffnNorm: norm(`${L}/post_attention_layernorm`, m),
      gate: linear(`${M}/gate_proj/MatMul`),
      up: linear(`${M}/up_proj/MatMul`),
      down: linear(`${M}/down_proj/MatMul`),
      gateOut: out(`${M}/gate_proj/MatMul`),
      upOut: out(`${M}/up_proj/MatMul`),
      ffnAct: out(`${M}/Mul_gate_up`),
      ffnOutput: out(`${M}/down_proj/MatMul`),
      output: y,
      attention: { kind: 'decomposed' },
      shapeUses,
      attributeUses: [],
      ...(c.kvCache
        ? { kvCache: { pastKey: `past_key_values.${i}.key`, pastValue: `past_key_values.${i}.value`, presentKey: `present.${i}.key`, presentValue: `present.${i}.value`, headAxis: 1 } }
        : {}),
    });
    x = y;
  }
  return {
    recogniser: 'llm-bip-export',
    flavour: 'llm-bip exporter (test helper)',
    architecture: 'llama',
    hiddenSize: c.hiddenSize,
    vocabSize: c.vocabSize,
    numLayers: c.numLayers,
    rmsNormEps: c.rmsNormEps,
    weightType,
    logitsType: 'float32',
    inputs: { inputIds: 'input_ids', attentionMask: 'attention_mask', positionIds: 'position_ids' },
    logits: 'logits',
    embedding: { weight: 'model.embed_tokens.weight' },
    finalNorm: norm('/model/norm', x),
    lmHead: linear('/lm_head/MatMul'),
    tiedEmbeddings: c.tieWordEmbeddings,
    kvCache: c.kvCache,
    layers,
  };
}
