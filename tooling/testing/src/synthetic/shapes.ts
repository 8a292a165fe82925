/**
 * The published shapes of three LLaMA-family checkpoints, as the config.json their HF repositories carry
 * (transformers 4.x keys, bf16). Only the shapes and the architecture's constants are theirs: the
 * weights the generator writes are seeded noise.
 */
export const SYNTHETIC_SHAPES = {
  /** meta-llama/Llama-2-7b-hf: 32 layers, hidden 4096, 32 heads (MHA), MLP 11008, vocab 32000 */
  'llama2-7b': {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: 4096,
    intermediate_size: 11008,
    num_hidden_layers: 32,
    num_attention_heads: 32,
    num_key_value_heads: 32,
    vocab_size: 32000,
    max_position_embeddings: 4096,
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    rope_scaling: null,
    hidden_act: 'silu',
    tie_word_embeddings: false,
    attention_bias: false,
    bos_token_id: 1,
    eos_token_id: 2,
    torch_dtype: 'bfloat16',
  },
  /**
   * Llama-3-8B's shape (32 layers, hidden 4096, 32 heads / 8 KV heads, MLP 14336, vocab 128256) with the
   * llama3 rope scaling and 131072 context that Llama-3.1-8B added (the 3.0 release has no rope_scaling).
   */
  'llama3-8b': {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: 4096,
    intermediate_size: 14336,
    num_hidden_layers: 32,
    num_attention_heads: 32,
    num_key_value_heads: 8,
    vocab_size: 128256,
    max_position_embeddings: 131072,
    rms_norm_eps: 1e-5,
    rope_theta: 500000,
    rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 },
    hidden_act: 'silu',
    tie_word_embeddings: false,
    attention_bias: false,
    bos_token_id: 128000,
    eos_token_id: 128001,
    torch_dtype: 'bfloat16',
  },
  /** TinyLlama/TinyLlama-1.1B: 22 layers, hidden 2048, 32 heads / 4 KV heads, MLP 5632, vocab 32000 */
  'tinyllama-1.1b': {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: 2048,
    intermediate_size: 5632,
    num_hidden_layers: 22,
    num_attention_heads: 32,
    num_key_value_heads: 4,
    vocab_size: 32000,
    max_position_embeddings: 2048,
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    rope_scaling: null,
    hidden_act: 'silu',
    tie_word_embeddings: false,
    attention_bias: false,
    bos_token_id: 1,
    eos_token_id: 2,
    torch_dtype: 'bfloat16',
  },
} as const;

export type SyntheticShapeName = keyof typeof SYNTHETIC_SHAPES;
export const SYNTHETIC_SHAPE_NAMES = Object.keys(SYNTHETIC_SHAPES) as SyntheticShapeName[];
