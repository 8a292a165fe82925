/**
 * A real llama.cpp, through node-llama-cpp 3.21.1 (its prebuilt CPU binaries, pinned in this package's
 * devDependencies): load a GGUF file, read per-token log-probabilities, decode greedily, tokenize.
 * `exact` runs the KV cache in F32 with flash attention off (llama.cpp's CPU flash attention and F16 KV
 * cache round attention inputs to fp16); the default context is what a user of llama.cpp gets.
 */
import { getLlama, type Llama, type LlamaContext, type LlamaModel, type Token } from 'node-llama-cpp';

let llama: Promise<Llama> | undefined;

function llamaCpp(): Promise<Llama> {
  llama ??= getLlama({ gpu: false, build: 'never', progressLogs: false, logLevel: 'error' as never, skipDownload: true });
  return llama;
}

export interface LlamaCppModel {
  model: LlamaModel;
  context: LlamaContext;
  /** log p(window[t+1] | window[..t]) for t = 0..len-2, in a fresh sequence */
  tokenLogProbs(window: readonly number[]): Promise<number[]>;
  /** tokenLogProbs of each window, one after the other (the context has one sequence) */
  windowLogProbs(windows: readonly (readonly number[])[]): Promise<number[][]>;
  /** greedy continuation of `prompt` (no BOS added: the prompt is given as ids) */
  greedy(prompt: readonly number[], newTokens: number): Promise<number[]>;
  dispose(): Promise<void>;
}

export async function loadLlamaCpp(path: string, opts: { exact?: boolean; contextSize?: number } = {}): Promise<LlamaCppModel> {
  const l = await llamaCpp();
  const model = await l.loadModel({ modelPath: path, gpuLayers: 0 });
  const context = await model.createContext({
    contextSize: opts.contextSize ?? 256,
    batchSize: opts.contextSize ?? 256,
    sequences: 1,
    threads: 1, // ggml worker threads spin while waiting: on a busy 2-core runner one thread is faster
    ...(opts.exact ? { flashAttention: false, experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32' } : {}),
  } as Parameters<LlamaModel['createContext']>[0]);
  // one sequence, cleared before each use (a disposed sequence's id comes back asynchronously)
  const seq = context.getSequence();
  const m: LlamaCppModel = {
    model,
    context,
    async tokenLogProbs(window) {
      await seq.clearHistory();
      const res = await seq.controlledEvaluate(window.map((id) => [id as Token, { generateNext: { probabilities: true } }] as const));
      const out: number[] = [];
      for (let t = 0; t + 1 < window.length; t++) {
        const p = res[t]?.next.probabilities?.get(window[t + 1]! as Token);
        if (p === undefined) throw new Error(`llama.cpp gave no probability for position ${t}`);
        out.push(Math.log(p));
      }
      return out;
    },
    async windowLogProbs(windows) {
      const out: number[][] = [];
      for (const w of windows) out.push(await m.tokenLogProbs(w));
      return out;
    },
    async greedy(prompt, newTokens) {
      await seq.clearHistory();
      const out: number[] = [];
      let input: Array<Token | [Token, { generateNext: { token: true; options: { temperature: 0 } } }]> = prompt.map((id) => id as Token);
      for (let i = 0; i < newTokens; i++) {
        const last = input.length - 1;
        input[last] = [input[last] as Token, { generateNext: { token: true, options: { temperature: 0 } } }];
        const res = await seq.controlledEvaluate(input);
        const next = res[last]?.next.token;
        if (next === undefined || next === null) throw new Error('llama.cpp generated no token');
        out.push(next);
        input = [next];
      }
      return out;
    },
    async dispose() {
      seq.dispose();
      await context.dispose();
      await model.dispose();
    },
  };
  return m;
}
