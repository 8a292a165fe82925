import { loadTokenizer } from "/work/wt-pipeline/packages/eval/src/index.js";
import { DEFAULTS, loadModelInput, pruneLlm } from "/work/wt-pipeline/packages/pipeline/src/index.js";

const model = await loadModelInput("/tmp/pipeline-readme-4VbHPw/dense/model.onnx");                // LoadedModel + ModelSpec
const tokenizer = loadTokenizer("/work/shared/testbed/bip-llama-tiny");
const run = await pruneLlm({ ...model, tokenizer }, {
  ratio: 0.2,                                                      // criterion llm-bip, its own allocation (global-kind), compensation on
  calibration: { dataDir: "/work/shared/data", samples: 8, seqLen: 64 }, // the C4 sample; DEFAULTS: 128 x 128, seed 0
  outPath: "/tmp/pipeline-readme-4VbHPw/pruned.onnx",
  eval: { ppl: ['wikitext2'], tasks: [], limit: 4, dataDir: "/work/shared/data", cacheDir: "/tmp/pipeline-readme-4VbHPw/cache" },
  ep: 'cpu',
});
console.log(`${run.plan.criterion}, ${run.plan.allocation}, removed ${(Number(run.plan.notes?.achievedRatio) * 100).toFixed(1)} %`);
console.log(`wikitext2: dense ${run.eval!.dense.perplexity[0]!.ppl.toFixed(2)}, pruned ${run.eval!.pruned.perplexity[0]!.ppl.toFixed(2)}`);
console.log(`defaults: ${DEFAULTS.criterion}, ${DEFAULTS.calibration.samples} x ${DEFAULTS.calibration.seqLen} tokens`);
