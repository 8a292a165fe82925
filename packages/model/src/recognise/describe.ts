/** A plain-object summary of a ModelSpec and a text table of it, for `llm-bip inspect`. */
import type { ModelSpec } from '../spec.js';
import { countParameters, type ParameterCounts } from '../groups.js';

export interface SpecSummary {
  recogniser: ModelSpec['recogniser'];
  flavour: string;
  layers: number;
  hiddenSize: number;
  vocabSize: number;
  weightType: ModelSpec['weightType'];
  kvCache: boolean;
  tiedEmbeddings: boolean;
  rmsNormEps: number;
  /** what the block computes beyond LLaMA's, in words ("GeGLU MLP, norm gain 1 + w, embeddings x 8"); the family when known */
  block: string;
  /** per layer: heads, KV heads, head_dim, FFN width and parameters (attention, MLP) */
  perLayer: Array<{ index: number; numHeads: number; numKvHeads: number; headDim: number; intermediateSize: number; attentionParams: number; mlpParams: number; attention: string }>;
  parameters: Omit<ParameterCounts, 'perLayer'>;
}

export function describeSpec(spec: ModelSpec): SpecSummary {
  const counts = countParameters(spec);
  const { perLayer: _p, ...parameters } = counts;
  return {
    recogniser: spec.recogniser,
    flavour: spec.flavour,
    layers: spec.numLayers,
    hiddenSize: spec.hiddenSize,
    vocabSize: spec.vocabSize,
    weightType: spec.weightType,
    kvCache: spec.kvCache,
    tiedEmbeddings: spec.tiedEmbeddings,
    rmsNormEps: spec.rmsNormEps,
    block: blockWords(spec),
    perLayer: spec.layers.map((l, i) => ({
      index: l.index,
      numHeads: l.numHeads,
      numKvHeads: l.numKvHeads,
      headDim: l.headDim,
      intermediateSize: l.intermediateSize,
      attentionParams: counts.perLayer[i]!.attention,
      mlpParams: counts.perLayer[i]!.mlp,
      attention: l.attention.kind,
    })),
    parameters,
  };
}

function blockWords(spec: ModelSpec): string {
  const l = spec.layers[0];
  const words = [spec.mlpActivation === 'silu' ? 'SwiGLU MLP' : 'GeGLU MLP (tanh gelu)'];
  if (l?.q.bias) words.push('q/k/v biases');
  if (l?.qNorm) words.push('per-head q/k norms');
  if (l?.ffnNorm.offset) words.push(`norm gain ${l.ffnNorm.offset} + w`);
  if (spec.embedding.scale !== undefined) words.push(`embeddings x ${Number(spec.embedding.scale.toPrecision(6))}`);
  return `${spec.family ? `${spec.family}: ` : ''}${words.join(', ')}`;
}

const fmt = (n: number) => n.toLocaleString('en-US');

/** The summary as text: a header and one row per layer. */
export function formatSpecSummary(s: SpecSummary): string {
  const head = [
    `recogniser   ${s.recogniser} (${s.flavour})`,
    `layers       ${s.layers}   hidden ${s.hiddenSize}   vocab ${fmt(s.vocabSize)}   weights ${s.weightType}   rms_norm_eps ${s.rmsNormEps}`,
    `block        ${s.block}`,
    `KV cache     ${s.kvCache ? 'yes' : 'no'}   tied embeddings ${s.tiedEmbeddings ? 'yes' : 'no'}`,
    `parameters   ${fmt(s.parameters.total)} total: attention ${fmt(s.parameters.attention)}, MLP ${fmt(s.parameters.mlp)}, embeddings ${fmt(s.parameters.embeddings)}`,
    '',
  ];
  const cols = ['layer', 'heads', 'kv heads', 'head_dim', 'ffn', 'attn params', 'mlp params', 'attention'];
  const rows = s.perLayer.map((l) => [l.index, l.numHeads, l.numKvHeads, l.headDim, l.intermediateSize, fmt(l.attentionParams), fmt(l.mlpParams), l.attention].map(String));
  const widths = cols.map((c, j) => Math.max(c.length, ...rows.map((r) => r[j]!.length)));
  const line = (r: string[]) => r.map((v, j) => (j === r.length - 1 ? v : v.padStart(widths[j]!))).join('  ');
  return [...head, line(cols), ...rows.map(line)].join('\n');
}
