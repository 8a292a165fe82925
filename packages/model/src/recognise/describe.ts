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

const fmt = (n: number) => n.toLocaleString('en-US');

/** The summary as text: a header and one row per layer. */
export function formatSpecSummary(s: SpecSummary): string {
  const head = [
    `recogniser   ${s.recogniser} (${s.flavour})`,
    `layers       ${s.layers}   hidden ${s.hiddenSize}   vocab ${fmt(s.vocabSize)}   weights ${s.weightType}   rms_norm_eps ${s.rmsNormEps}`,
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
