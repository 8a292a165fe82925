/**
 * The token scoring head: extra nodes that reduce a causal LM's logits inside the graph, so a forward
 * pass returns one log-probability and one argmax per position instead of the whole
 * [batch, seq, vocab] logits tensor (1 GB for a 7B model at batch 4 x 2048). The original outputs
 * stay in the graph (the model is otherwise unchanged); callers fetch only the head's outputs.
 */
import { DataType, GraphIndex, makeTensor, type AttributeProto, type ModelProto, type NodeProto, type TensorProto } from '@llm-bip/onnx-io';
import { EvalError } from './errors.js';

/** int64 [batch, seq]: the token whose log-probability is wanted at each position. */
export const TARGETS_INPUT = 'llm_bip_targets';
/** float32 [batch, seq]: log p(target | prefix), computed in float32. */
export const TOKEN_LOGPROB_OUTPUT = 'llm_bip_token_logprob';
/** int64 [batch, seq]: the first index of the maximum logit (lm-eval's is_greedy compares it to the target). */
export const ARGMAX_OUTPUT = 'llm_bip_argmax';

const NODE_PREFIX = 'llm_bip_head';

/** The logits output of a causal-LM graph: 'logits', or the only output (the runtime's rule). */
export function findLogitsOutput(model: ModelProto): string {
  const names = (model.graph?.output ?? []).map((o) => o.name ?? '');
  if (names.includes('logits')) return 'logits';
  if (names.length === 1) return names[0]!;
  throw new EvalError(`cannot tell which output holds logits among: ${names.join(', ')}`);
}

/** The default-domain opset the model was written for. */
function defaultOpset(model: ModelProto): number {
  const entry = (model.opsetImport ?? []).find((o) => !o.domain || o.domain === 'ai.onnx');
  if (!entry || entry.version === undefined || entry.version === null) throw new EvalError('the model declares no default-domain opset');
  return typeof entry.version === 'number' ? entry.version : entry.version.toNumber();
}

/** A dimension's fixed size, if the graph gives one. */
function staticDim(dim: { dimValue?: number | { toNumber(): number } | null } | undefined): number | undefined {
  const v = dim?.dimValue;
  if (v === undefined || v === null) return undefined;
  const n = typeof v === 'number' ? v : v.toNumber();
  return n > 0 ? n : undefined;
}

/**
 * Block length for the two-stage exp sum: the divisor of the vocabulary nearest sqrt(vocab) within
 * 16..1024 (8,192 -> 64, 32,000 -> 160, 128,256 -> 334), or undefined when there is none (32,001).
 */
export function sumBlockSize(vocab: number | undefined): number | undefined {
  if (vocab === undefined) return undefined;
  const target = Math.sqrt(vocab);
  let best: number | undefined;
  for (let k = 16; k <= Math.min(1024, vocab / 2); k++) {
    if (vocab % k === 0 && (best === undefined || Math.abs(k - target) < Math.abs(best - target))) best = k;
  }
  return best;
}

function intAttribute(name: string, value: number): AttributeProto {
  return { name, type: 2, i: value }; // AttributeType.INT
}
function intsAttribute(name: string, values: number[]): AttributeProto {
  return { name, type: 7, ints: values }; // AttributeType.INTS
}

/**
 * Add the head to `model` (mutated; pass a fresh load). Inputs: the graph's own plus `llm_bip_targets`;
 * new outputs `llm_bip_token_logprob` and `llm_bip_argmax`. Returns the logits output it reads.
 */
export function addTokenScoringHead(model: ModelProto): { logits: string } {
  const graph = model.graph;
  if (!graph) throw new EvalError('the model has no graph');
  const index = new GraphIndex(graph);
  for (const name of [TARGETS_INPUT, TOKEN_LOGPROB_OUTPUT, ARGMAX_OUTPUT]) {
    if (index.hasTensor(name)) throw new EvalError(`the model already has a tensor named ${name}: was the scoring head added twice?`);
  }
  const logits = findLogitsOutput(model);
  const logitsInfo = graph.output!.find((o) => o.name === logits)!;
  const elemType = logitsInfo.type?.tensorType?.elemType;
  const opset = defaultOpset(model);
  // Squeeze/Unsqueeze took axes as an attribute until opset 13
  const squeezeAxesAsInput = opset >= 13;

  const nodes: NodeProto[] = [];
  const initializers: TensorProto[] = [];
  const node = (opType: string, inputs: string[], output: string, attribute: AttributeProto[] = []): string => {
    nodes.push({ name: output, opType, input: inputs, output: [output], attribute });
    return output;
  };
  const lastAxis = `${NODE_PREFIX}/last_axis`;
  initializers.push(makeTensor(lastAxis, DataType.INT64, [1], [-1]));

  // fp16/bf16 logits: reduce in float32 (an fp16 sum over 32k exponentials loses most of its digits)
  let scores = logits;
  if (elemType !== DataType.FLOAT) {
    if (elemType !== DataType.FLOAT16 && elemType !== DataType.BFLOAT16) {
      throw new EvalError(`logits output ${logits} has element type ${elemType ?? 'unknown'}; the scoring head takes float, float16 or bfloat16`);
    }
    const cast = node('Cast', [logits], `${NODE_PREFIX}/logits_cast`, [intAttribute('to', DataType.FLOAT)]);
    scores = roundToLogitsPrecision(cast, elemType === DataType.FLOAT16 ? 11 : 8);
  }

  /**
   * ORT's CPU EP computes fp16 MatMuls in float32 and, at every optimisation level, drops the
   * Cast(float->fp16) -> Cast(fp16->float) pair between the model's last MatMul and this head: the head
   * would see the logits before their rounding to fp16 (up to half an fp16 ulp away, 4e-3 for logits in
   * [8, 16)), unlike the logits output, the JS path and a PyTorch fp16 model, and unlike other EPs. So
   * round to the logits' precision again in float32 arithmetic, which no optimiser removes: Veltkamp's
   * split (c = x * (2^(24-p) + 1); x_hi = c - (c - x)) keeps the p leading significand bits of x, rounded
   * to nearest. On values that already have p bits (EPs that really run fp16) it returns them unchanged.
   */
  function roundToLogitsPrecision(x: string, significandBits: number): string {
    const splitter = `${NODE_PREFIX}/veltkamp_splitter`;
    initializers.push(makeTensor(splitter, DataType.FLOAT, [], Float32Array.of(2 ** (24 - significandBits) + 1)));
    const scaled = node('Mul', [x, splitter], `${NODE_PREFIX}/veltkamp_scaled`);
    const low = node('Sub', [scaled, x], `${NODE_PREFIX}/veltkamp_difference`);
    return node('Sub', [scaled, low], `${NODE_PREFIX}/logits_float`);
  }

  /**
   * logsumexp spelt out as max + log(sum(exp(x - max))), all in float32, with the sum taken in two
   * stages (blocks of about sqrt(vocab) terms, then the block sums). A float32 running sum over the whole
   * vocabulary drops the low bits of every small term it adds, so it comes out low, and the bias does not
   * average away over a data set. Measured against float64 on bip-llama-small (vocab 8,192, 4,064
   * WikiText-2 positions), mean and max error of the log-prob:
   *   ReduceLogSumExp           biased +2.6e-6 (max 5e-5, bip-llama-tiny)
   *   LogSoftmax                +4.3e-7 (max 4.1e-6)
   *   one-stage ReduceSum       +8.9e-7 (max 8.7e-6): perplexity off by 8e-7 relative
   *   two-stage ReduceSum       +1.9e-9 (max 1.1e-6)   <- this
   */
  const reduce = (opType: 'ReduceMax' | 'ReduceSum', x: string, output: string, keepdims: 0 | 1 = 1): string => {
    // ReduceSum took axes as an input from opset 13, the other Reduce* ops only from 18
    const axesAsInput = opType === 'ReduceSum' ? opset >= 13 : opset >= 18;
    return axesAsInput
      ? node(opType, [x, lastAxis], output, [intAttribute('keepdims', keepdims)])
      : node(opType, [x], output, [intsAttribute('axes', [-1]), intAttribute('keepdims', keepdims)]);
  };
  const rowMax = reduce('ReduceMax', scores, `${NODE_PREFIX}/row_max`);
  const shifted = node('Sub', [scores, rowMax], `${NODE_PREFIX}/shifted`);
  const exps = node('Exp', [shifted], `${NODE_PREFIX}/exp`);
  const block = sumBlockSize(staticDim(logitsInfo.type?.tensorType?.shape?.dim?.[2]));
  let expSum: string;
  if (block === undefined) {
    // vocabulary unknown in the graph, or without a divisor that makes useful blocks: one stage
    expSum = reduce('ReduceSum', exps, `${NODE_PREFIX}/exp_sum`);
  } else {
    const blockShape = `${NODE_PREFIX}/exp_block_shape`;
    initializers.push(makeTensor(blockShape, DataType.INT64, [4], [0, 0, -1, block])); // 0: keep batch and seq
    const blocks = node('Reshape', [exps, blockShape], `${NODE_PREFIX}/exp_blocks`);
    expSum = reduce('ReduceSum', reduce('ReduceSum', blocks, `${NODE_PREFIX}/exp_block_sums`, 0), `${NODE_PREFIX}/exp_sum`);
  }
  const logSumExp3d = node('Add', [node('Log', [expSum], `${NODE_PREFIX}/log_exp_sum`), rowMax], `${NODE_PREFIX}/log_sum_exp_3d`);

  // GatherElements wants the index with the data's rank: targets [b, s] -> [b, s, 1]
  const targetIndex = squeezeAxesAsInput
    ? node('Unsqueeze', [TARGETS_INPUT, lastAxis], `${NODE_PREFIX}/target_index`)
    : node('Unsqueeze', [TARGETS_INPUT], `${NODE_PREFIX}/target_index`, [intsAttribute('axes', [-1])]);
  const targetLogit3d = node('GatherElements', [scores, targetIndex], `${NODE_PREFIX}/target_logit_3d`, [intAttribute('axis', -1)]);
  // both [b, s, 1]: subtract, then drop the vocab axis once
  const logprob3d = node('Sub', [targetLogit3d, logSumExp3d], `${NODE_PREFIX}/token_logprob_3d`);
  if (squeezeAxesAsInput) node('Squeeze', [logprob3d, lastAxis], TOKEN_LOGPROB_OUTPUT);
  else node('Squeeze', [logprob3d], TOKEN_LOGPROB_OUTPUT, [intsAttribute('axes', [-1])]);
  // the first maximum, as the JS path and the harness (torch.argmax) break ties: ArgMax's default
  // (select_last_index = 0; the attribute itself only exists from opset 12, so it is left out)
  node('ArgMax', [scores], ARGMAX_OUTPUT, [intAttribute('axis', -1), intAttribute('keepdims', 0)]);

  // name the batch and sequence dims after the logits output's, so ORT's shape metadata lines up
  const logitsDims = logitsInfo.type?.tensorType?.shape?.dim ?? [];
  const dim = (i: number, fallback: string) => {
    const d = logitsDims[i];
    return d && (d.dimValue !== undefined || d.dimParam) ? { ...d } : { dimParam: fallback };
  };
  const batchSeq = () => ({ dim: [dim(0, 'batch'), dim(1, 'sequence')] });
  graph.input = [...(graph.input ?? []), { name: TARGETS_INPUT, type: { tensorType: { elemType: DataType.INT64, shape: batchSeq() } } }];
  graph.node = [...(graph.node ?? []), ...nodes];
  graph.initializer = [...(graph.initializer ?? []), ...initializers];
  graph.output = [
    ...(graph.output ?? []),
    { name: TOKEN_LOGPROB_OUTPUT, type: { tensorType: { elemType: DataType.FLOAT, shape: batchSeq() } } },
    { name: ARGMAX_OUTPUT, type: { tensorType: { elemType: DataType.INT64, shape: batchSeq() } } },
  ];
  return { logits };
}
