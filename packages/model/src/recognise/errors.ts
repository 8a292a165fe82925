/** Errors of the recognisers: which pattern was not found, and where the search stopped. */

/** Thrown inside one recogniser when an expected pattern is missing; carries the node where it stopped. */
export class PatternNotFound extends Error {
  readonly category = 'input';
  constructor(
    readonly pattern: string,
    readonly stoppedAt: string | undefined,
    readonly context = '',
  ) {
    super(`no ${pattern} found${context ? ` ${context}` : ''}${stoppedAt ? `: search stopped at node ${stoppedAt}` : ''}`);
    this.name = 'PatternNotFound';
  }

  /** The same miss, with where in the model it happened ("feeding layer 3's attention"). */
  within(context: string): PatternNotFound {
    return new PatternNotFound(this.pattern, this.stoppedAt, this.context ? `${this.context} (${context})` : context);
  }
}

export interface RecogniserAttempt {
  recogniser: string;
  /** 'skipped' when its hint did not apply (the graph has none of its marks), 'failed' when its search did */
  outcome: 'skipped' | 'failed';
  reason: string;
  /** for failures: the pattern not found and the node where the search stopped */
  pattern?: string;
  stoppedAt?: string;
}

/** No recogniser turned the graph into a ModelSpec. The message lists what each one tried. */
export class UnsupportedGraphError extends Error {
  readonly category = 'input';
  constructor(
    readonly attempts: RecogniserAttempt[],
    source = 'the model',
  ) {
    const failed = attempts.find((a) => a.outcome === 'failed');
    const lines = attempts.map((a) => `  - ${a.recogniser}: ${a.outcome === 'skipped' ? `skipped (${a.reason})` : a.reason}`);
    super(
      `${source} is not a LLaMA-family graph that llm-bip recognises${failed ? `: ${failed.reason}` : ''}.\n` +
        `What each recogniser tried:\n${lines.join('\n')}\n` +
        'Supported: graphs from `llm-bip export`, torch.onnx exports (TorchScript or dynamo) of HF Llama, Mistral, Qwen2, Qwen3, Phi-3 and Gemma (1) causal LMs, ' +
        'and onnxruntime-genai model-builder graphs. Re-export the model with `llm-bip export` from its HF checkpoint.',
    );
    this.name = 'UnsupportedGraphError';
  }

  get pattern(): string | undefined {
    return this.attempts.find((a) => a.outcome === 'failed')?.pattern;
  }

  get stoppedAt(): string | undefined {
    return this.attempts.find((a) => a.outcome === 'failed')?.stoppedAt;
  }
}
