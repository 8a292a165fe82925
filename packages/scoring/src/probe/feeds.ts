/**
 * Feeds for a probe run. The probe drops the model's present-KV outputs (they would carry
 * activations to the host), so the runtime's forwardFeeds, which pairs past inputs with present
 * outputs, does not apply; the past inputs get zero-length tensors sized from the ModelSpec.
 * A block-by-block segment also takes tensors an earlier segment computed (`carried`, by name).
 */
import type { ModelSpec } from '@llm-bip/model';
import { ort, type Feeds, type OrtTensor, type Session, type TokenBatch } from '@llm-bip/runtime';
import { ScoringError } from '../errors.js';

export function probeFeeds(session: Session, spec: ModelSpec, batch: TokenBatch, carried: Feeds = {}): Feeds {
  const pastLayer = new Map<string, number>();
  for (const l of spec.layers) if (l.kvCache) for (const n of [l.kvCache.pastKey, l.kvCache.pastValue]) pastLayer.set(n, l.index);
  const feeds: Feeds = {};
  for (const meta of session.inputMetadata) {
    const name = meta.name;
    if (name in carried) feeds[name] = carried[name]!;
    else if (name === spec.inputs.inputIds) feeds[name] = batch.ids;
    else if (name === spec.inputs.attentionMask) feeds[name] = batch.attentionMask;
    else if (name === spec.inputs.positionIds) feeds[name] = batch.positionIds;
    else {
      const layerIndex = pastLayer.get(name) ?? Number(/past[^.]*\.(\d+)\./.exec(name)?.[1] ?? NaN);
      const layer = spec.layers[layerIndex];
      if (!layer || !meta.isTensor) {
        throw new ScoringError(`the probe does not know how to feed model input "${name}" (it feeds input ids, attention mask, position ids and past KV inputs)`);
      }
      feeds[name] = emptyPast(meta.type, batch.batch, layer.numKvHeads, layer.headDim);
    }
  }
  return feeds;
}

function emptyPast(type: string, batch: number, kvHeads: number, headDim: number): OrtTensor {
  const dims = [batch, kvHeads, 0, headDim];
  if (type === 'float16') return new ort.Tensor('float16', new Uint16Array(0), dims);
  if (type === 'float32') return new ort.Tensor('float32', new Float32Array(0), dims);
  throw new ScoringError(`past KV input of type ${type} is not supported`);
}
