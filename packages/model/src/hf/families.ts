/**
 * The model families llm-bip exports, as data: what each HF `model_type` changes in a LLaMA block,
 * and what it refuses (with the reason). `normaliseHfConfig` reads the table once; the exporter, the
 * float64 reference and the weight list read the normalised config, never a model_type string.
 *
 * | family  | differs from LLaMA (what the config carries)                                           |
 * |---------|----------------------------------------------------------------------------------------|
 * | llama   | (Llama 1/2/3.x: llama3 rope scaling, tied embeddings in 3.2, GQA)                        |
 * | mistral | explicit head_dim; sliding_window (every layer: key j visible from query i iff i-w < j <= i) |
 * | qwen2   | q/k/v biases; sliding window refused (use_sliding_window: only some layers slide)       |
 * | qwen3   | q_norm / k_norm (RMSNorm over head_dim, one gain shared by every head) before RoPE      |
 * | phi3    | fused qkv_proj [q; k; v] and gate_up_proj [gate; up] in the checkpoint; sliding_window  |
 * | gemma   | RMSNorm times (1 + w), GeGLU (gelu, tanh form), embeddings times sqrt(hidden), tied     |
 */
export type Family = 'llama' | 'mistral' | 'qwen2' | 'qwen3' | 'phi3' | 'gemma';

/** The MLP activation φ in s = φ(x W_gate) ⊙ (x W_up). */
export type MlpActivation = 'silu' | 'gelu_tanh';

export interface FamilyTraits {
  family: Family;
  /** HF class, for the config.json we write */
  architecture: string;
  /** q/k/v projections carry a bias (Qwen2: always; others: config `attention_bias`, where o_proj has none) */
  qkvBias: 'always' | 'never' | 'config';
  /** per-head RMSNorm of q and k before RoPE (Qwen3) */
  qkNorm: boolean;
  /** checkpoint stores q/k/v as one qkv_proj and gate/up as one gate_up_proj (Phi-3) */
  fusedCheckpoint: boolean;
  /** RMSNorm multiplies by (normOffset + w): Gemma stores w around 0 and uses 1 + w */
  normOffset: 0 | 1;
  /** token embeddings multiplied by sqrt(hidden_size) (Gemma) */
  scaleEmbeddings: boolean;
  /** the config key transformers reads the MLP activation from, and its default */
  activation: { key: string; default: string };
  /** the sliding-window attention this family can have: every layer, or refused */
  slidingWindow: 'all-layers' | 'refused' | 'none';
}

const LLAMA: FamilyTraits = {
  family: 'llama',
  architecture: 'LlamaForCausalLM',
  qkvBias: 'never',
  qkNorm: false,
  fusedCheckpoint: false,
  normOffset: 0,
  scaleEmbeddings: false,
  activation: { key: 'hidden_act', default: 'silu' },
  slidingWindow: 'none',
};

export const FAMILIES: Readonly<Record<Family, FamilyTraits>> = {
  llama: LLAMA,
  mistral: { ...LLAMA, family: 'mistral', architecture: 'MistralForCausalLM', slidingWindow: 'all-layers' },
  qwen2: { ...LLAMA, family: 'qwen2', architecture: 'Qwen2ForCausalLM', qkvBias: 'always', slidingWindow: 'refused' },
  qwen3: { ...LLAMA, family: 'qwen3', architecture: 'Qwen3ForCausalLM', qkvBias: 'config', qkNorm: true, slidingWindow: 'refused' },
  phi3: { ...LLAMA, family: 'phi3', architecture: 'Phi3ForCausalLM', fusedCheckpoint: true, slidingWindow: 'all-layers' },
  // transformers' GemmaMLP reads hidden_activation (default gelu_pytorch_tanh); released configs also carry hidden_act "gelu", unused
  gemma: { ...LLAMA, family: 'gemma', architecture: 'GemmaForCausalLM', normOffset: 1, scaleEmbeddings: true, activation: { key: 'hidden_activation', default: 'gelu_pytorch_tanh' } },
};

/**
 * model_types we know and refuse, with what is missing. Checked before anything else, so a
 * mixture-of-experts or a soft-capped model never starts a long export.
 */
export const REFUSED_MODEL_TYPES: Readonly<Record<string, string>> = {
  mixtral: 'a mixture-of-experts MLP (block_sparse_moe: a router and num_local_experts expert MLPs); llm-bip prunes dense MLPs only',
  qwen2_moe: 'a mixture-of-experts MLP (a router, experts and a shared expert); llm-bip prunes dense MLPs only',
  qwen3_moe: 'a mixture-of-experts MLP (a router and experts); llm-bip prunes dense MLPs only',
  gemma2:
    'Gemma 2 blocks: attention-logit and final-logit soft-capping (tanh), sandwich norms (post-attention and pre/post-feed-forward RMSNorms) and alternating sliding-window layers; the exporter and the LLM-BIP bound cover Gemma 1 only',
  gemma3:
    'a Gemma 3 multimodal checkpoint (vision tower) with Gemma 3 blocks (q/k norms, sandwich norms, alternating local/global rope); the exporter covers Gemma 1 only',
  gemma3_text:
    'Gemma 3 blocks: sandwich norms (post-attention and pre/post-feed-forward RMSNorms), q/k norms with (1 + w), alternating sliding-window layers with their own rope base; the exporter and the LLM-BIP bound cover Gemma 1 only',
};

/** Config keys that mean mixture-of-experts whatever the model_type says. */
export const MOE_KEYS = ['num_local_experts', 'num_experts', 'n_routed_experts', 'moe_intermediate_size'] as const;

export function familyOf(modelType: unknown): FamilyTraits | undefined {
  return typeof modelType === 'string' && Object.hasOwn(FAMILIES, modelType) ? FAMILIES[modelType as Family] : undefined;
}

/** transformers' names for the activations we support. */
export function activationOf(name: unknown): MlpActivation | undefined {
  if (name === 'silu' || name === 'swish') return 'silu';
  // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))): torch's gelu(approximate='tanh') and transformers' NewGELU
  if (name === 'gelu_pytorch_tanh' || name === 'gelu_new') return 'gelu_tanh';
  return undefined;
}
