import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root (this file is tooling/testing/src/index.ts). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/**
 * The project's shared data folder: $LLM_BIP_SHARED, else ../shared beside the checkout (where CI
 * and every session have it).
 */
export const sharedDir = process.env.LLM_BIP_SHARED ?? resolve(repoRoot, '../shared');

export function shared(...parts: string[]): string {
  return join(sharedDir, ...parts);
}

export function hasShared(...parts: string[]): boolean {
  return existsSync(shared(...parts));
}

export const fixtures = {
  torchscript: shared('fixtures/bip-llama-tiny-onnx/model.torchscript.onnx'),
  dynamo: shared('fixtures/bip-llama-tiny-onnx/model.dynamo.onnx'),
  genai: shared('fixtures/bip-llama-tiny-onnx/genai/model.onnx'),
  reference: shared('fixtures/bip-llama-tiny-onnx/reference.json'),
  tinyHf: shared('testbed/bip-llama-tiny'),
  smallHf: shared('testbed/bip-llama-small'),
  scoresReference: shared('reference/llm-bip-scores.bip-llama-tiny.json'),
};

/**
 * Tiny seeded checkpoints of current families made with transformers, with their PyTorch references
 * and torch.onnx exports (fixtures/families/README.md says how they were made).
 */
export const FAMILY_FIXTURES = ['llama3', 'llama32', 'mistral', 'qwen2', 'qwen3', 'phi3', 'gemma'] as const;
export type FamilyFixture = (typeof FAMILY_FIXTURES)[number];

export function familyFixture(name: FamilyFixture | 'gemma2' | 'gemma3' | 'mixtral', file = ''): string {
  return join(repoRoot, 'tooling/testing/fixtures/families', name, file);
}

/** reference.json of a family fixture: the HF forward's fp32 logits [seq][vocab] for input_ids [1][seq]. */
export interface FamilyReference {
  torch: string;
  transformers: string;
  input_ids: number[][];
  logits: number[][];
  argmax: number[];
  max_abs_logit: number;
}

/** A fresh temp dir; call the returned cleanup in afterAll/afterEach. */
export function tempDir(prefix = 'llm-bip-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
export { runReadmeExample } from './readme-example.js';
export { buildTinyLlama, writeTinyHfCheckpoint, type TinyLlama, type TinyLlamaShape, type TinyLlamaOutput, type TinyStorage } from './tiny/tiny-llama.js';
export { referenceForward, referenceTokenLogProbs, type LayerActivations, type ReferenceOptions } from './reference/forward.js';
export { correlatedTokens, referenceInputMoments } from './reference/moments.js';
export { maxAbs, maxAbsDiff } from './compare.js';
export { PARITY_VARIANTS, weightChecksum, writeParityVariant, type ParityVariant } from './parity/variants.js';
export { mulberry32 } from '@llm-bip/scoring'; // scoring's PRNG, for test data
export * from './synthetic/index.js';
export { syntheticTokenizerJson } from './tiny/tokenizer-json.js';
