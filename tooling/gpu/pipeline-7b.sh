#!/usr/bin/env bash
# Runs ON the GPU host (after stage.sh assemble and the job's `setup` step): the whole pipeline at 7B
# shape, one CLI command per process, each stage measured by measure.py (wall, peak RSS, peak GPU memory):
#   export --dtype fp16 -> PyTorch eager fp16 eval speed (the reference, on the HF checkpoint)
#   -> score llm-bip (128 x 128 C4 tokens) -> a plain forward over as many tokens (eval, 128 windows of 128)
#   -> plan 20 % -> prune (+ compensation) -> eval full WikiText-2, dense and pruned -> bench dense and pruned
#   [-> score block by block under BUDGET] [-> WebGPU: eval (WEBGPU_LIMIT windows) and bench, dense]
#   [DEADLINE_S=540] [BUDGET=4GB] [STAGES="export torch-eval"] [DROP_WEIGHTS=1] [DROP_WORK=1] [WEBGPU=1]
#   [SAMPLES=128] [EVAL_LIMIT=N (smoke tests only)]
#     bash tooling/gpu/pipeline-7b.sh HF_DIR WORK_DIR OUT_DIR [EP] [EXTRA SCORE ARGS...]
# Resumable over back-to-back device calls (the host keeps /tmp while warm): a stage whose record is in
# OUT_DIR/stages.jsonl with exit 0 is skipped, and no stage starts after DEADLINE_S seconds.
# STAGES runs only the stages named (e.g. export and the PyTorch reference in the background while the rest
# of the kit travels). The host's disk (64 GB) does not hold two 7B-class shapes with their exports:
# DROP_WEIGHTS=1 deletes HF_DIR's safetensors once the export and the PyTorch reference are done (the
# tokenizer stays), DROP_WORK=1 deletes WORK_DIR (the ONNX models) when every stage is done.
set -uo pipefail
base=/tmp/llmbip
hf=$1 work=$2 out=$3 ep=${4:-cuda}
shift 4 2>/dev/null || shift $#
mkdir -p "$work" "$out"
stages="$out/stages.jsonl"
touch "$stages"
started=$(date +%s)
here=$(cd "$(dirname "$0")" && pwd)
# the bundled CLI beside its session worker (run-job.sh puts them there too; the background run comes first)
for f in job.mjs session-worker.js package.json; do [ -f "$base/$f" ] || cp "$base/kit/$f" "$base/"; done
cli=("$base/bin/node" "$base/job.mjs" cli)
data=(--data "$base/data")
text=${TEXT:-$base/kit/wikitext2.txt}

# stage, done_stage: measured, skipped when done, none after DEADLINE_S
source "$here/stage-lib.sh"

dense="$work/dense/model.onnx"
stage export "${cli[@]}" export "$hf" -o "$dense" --dtype fp16 --kv-cache --json || exit 1
if [ -f "$text" ]; then
  stage torch-eval python3 "$here/torch_eval_speed.py" "$hf" "$text" "$out/torch-eval.result.json" || exit 1
fi
if [ "${DROP_WEIGHTS:-0}" = 1 ] && done_stage export && { [ ! -f "$text" ] || done_stage torch-eval; }; then
  rm -f "$hf"/*.safetensors
fi
stage score "${cli[@]}" score "$dense" --tokenizer "$hf" --criterion llm-bip --samples "${SAMPLES:-128}" --seq-len 128 --ep "$ep" "${data[@]}" -o "$work/scores.json" --json "$@" || exit 1
# the plain forward the issue compares scoring with: the same model loaded, 128 windows of 128 tokens
stage forward "${cli[@]}" eval "$dense" --tokenizer "$hf" --ppl wikitext2 --limit "${SAMPLES:-128}" --tasks none --ep "$ep" "${data[@]}" --json || exit 1
stage plan "${cli[@]}" plan "$work/scores.json" --ratio 0.2 -o "$work/plan.json" --json || exit 1
stage prune "${cli[@]}" prune "$dense" --plan "$work/plan.json" --compensate --scores "$work/scores.json" -o "$work/pruned" --json || exit 1
limit=(); [ -n "${EVAL_LIMIT:-}" ] && limit=(--limit "$EVAL_LIMIT")   # a smoke test's shortcut; the table is full WikiText-2
stage eval-dense "${cli[@]}" eval "$dense" --tokenizer "$hf" --ppl wikitext2 "${limit[@]}" --tasks none --ep "$ep" "${data[@]}" --json || exit 1
stage eval-pruned "${cli[@]}" eval "$work/pruned/model.onnx" --tokenizer "$hf" --ppl wikitext2 "${limit[@]}" --tasks none --ep "$ep" "${data[@]}" --json || exit 1
stage bench-dense "${cli[@]}" bench "$dense" --ep "$ep" --json || exit 1
stage bench-pruned "${cli[@]}" bench "$work/pruned/model.onnx" --ep "$ep" --json || exit 1
# block by block under a device-memory budget far below the model's size (BUDGET, e.g. 4GB)
if [ -n "${BUDGET:-}" ]; then
  stage score-budget "${cli[@]}" score "$dense" --tokenizer "$hf" --criterion llm-bip --samples "${SAMPLES:-128}" --seq-len 128 --ep "$ep" "${data[@]}" --max-device-memory "$BUDGET" -o "$work/scores-budget.json" --json || exit 1
fi
if [ "${WEBGPU:-0}" = 1 ]; then
  stage eval-dense-webgpu "${cli[@]}" eval "$dense" --tokenizer "$hf" --ppl wikitext2 --limit "${WEBGPU_LIMIT:-128}" --tasks none --ep webgpu "${data[@]}" --json || exit 1
  stage bench-dense-webgpu "${cli[@]}" bench "$dense" --ep webgpu --json || exit 1
fi
if [ -z "${STAGES:-}" ]; then
  echo "[7b] all stages done"
  if [ "${DROP_WORK:-0}" = 1 ]; then rm -rf "$work"; fi
fi
