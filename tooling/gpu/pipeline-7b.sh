#!/usr/bin/env bash
# Runs ON the GPU host (after stage.sh assemble and the job's `setup` step): the whole pipeline at 7B
# shape, one CLI command per process, each stage measured by measure.py (wall, peak RSS, peak GPU memory):
#   export --dtype fp16 -> score llm-bip (128 x 128 C4 tokens) -> plan 20 % -> prune (+ compensation)
#   -> eval full WikiText-2, dense and pruned -> bench dense and pruned -> PyTorch eager fp16 eval speed.
#   [DEADLINE_S=540] [BUDGET=4GB] bash tooling/gpu/pipeline-7b.sh HF_DIR WORK_DIR OUT_DIR [EP] [EXTRA SCORE ARGS...]
# Resumable over back-to-back device calls (the host keeps /tmp while warm): a stage whose record is in
# OUT_DIR/stages.jsonl with exit 0 is skipped, and no stage starts after DEADLINE_S seconds.
set -uo pipefail
base=/tmp/llmbip
hf=$1 work=$2 out=$3 ep=${4:-cuda}
shift 4 2>/dev/null || shift $#
mkdir -p "$work" "$out"
stages="$out/stages.jsonl"
touch "$stages"
started=$(date +%s)
here=$(cd "$(dirname "$0")" && pwd)
cli=("$base/bin/node" "$base/job.mjs" cli)
data=(--data "$base/data")

stage() {
  local name=$1; shift
  if grep -q "\"stage\": \"$name\", .*\"exit\": 0" "$stages"; then echo "[7b] $name: done before"; return 0; fi
  if [ $(( $(date +%s) - started )) -gt "${DEADLINE_S:-540}" ]; then echo "[7b] $name: not started (deadline)"; return 1; fi
  echo "[7b] $name"
  python3 "$here/measure.py" "$name" "$stages" -- "$@" >"$out/$name.json" 2>"$out/$name.log"
  local code=$?
  tail -n 3 "$out/$name.log"
  return $code
}

dense="$work/dense/model.onnx"
stage export "${cli[@]}" export "$hf" -o "$dense" --dtype fp16 --kv-cache --json || exit 1
stage score "${cli[@]}" score "$dense" --tokenizer "$hf" --criterion llm-bip --samples 128 --seq-len 128 --ep "$ep" "${data[@]}" -o "$work/scores.json" --json "$@" || exit 1
stage plan "${cli[@]}" plan "$work/scores.json" --ratio 0.2 -o "$work/plan.json" --json || exit 1
stage prune "${cli[@]}" prune "$dense" --plan "$work/plan.json" --compensate --scores "$work/scores.json" -o "$work/pruned" --json || exit 1
stage eval-dense "${cli[@]}" eval "$dense" --tokenizer "$hf" --ppl wikitext2 --tasks none --ep "$ep" "${data[@]}" --json || exit 1
stage eval-pruned "${cli[@]}" eval "$work/pruned/model.onnx" --tokenizer "$hf" --ppl wikitext2 --tasks none --ep "$ep" "${data[@]}" --json || exit 1
stage bench-dense "${cli[@]}" bench "$dense" --ep "$ep" --json || exit 1
stage bench-pruned "${cli[@]}" bench "$work/pruned/model.onnx" --ep "$ep" --json || exit 1
if [ -f "$work/wikitext2.txt" ]; then
  stage torch-eval python3 "$here/torch_eval_speed.py" "$hf" "$work/wikitext2.txt" "$out/torch-eval.result.json" || exit 1
fi
# block by block under a device-memory budget far below the model's size (BUDGET, e.g. 4GB)
if [ -n "${BUDGET:-}" ]; then
  stage score-budget "${cli[@]}" score "$dense" --tokenizer "$hf" --criterion llm-bip --samples 128 --seq-len 128 --ep "$ep" "${data[@]}" --max-device-memory "$BUDGET" -o "$work/scores-budget.json" --json || exit 1
fi
echo "[7b] all stages done"
