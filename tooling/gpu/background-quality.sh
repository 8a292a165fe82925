#!/usr/bin/env bash
# Runs ON the GPU host (after stage.sh assemble and the job's `setup` step, so the CUDA EP is installed): one
# quality job in a process of its own (setsid: it outlives the device call; the host keeps it while calls follow
# each other). Several may run side by side, each with its own JOB name. Two kinds of job:
#   a quality benchmark (tooling/bench/quality.ts, bundled in job.mjs): results go to /tmp/llmbip/out/JOB/quality.json
#     after every row (log: .../JOB/log.txt);
#   `cli prune-llm ARGS...` (options bench:quality has no method for, e.g. --steps): `llm-bip prune-llm MODEL_DIR ARGS
#     -o .../JOB/model --json` into .../JOB/prune.json; with TASK_LIMIT=N the pruned model's seven zero-shot tasks
#     (first N items each) follow, into .../JOB/tasks.json.
#   JOB=name [EP=cuda] [TASK_LIMIT=N] bash tooling/gpu/background-quality.sh MODEL_DIR [bench:quality args... | cli prune-llm args...]
# Collect in a later call: cp -r /tmp/llmbip/out/. "$OUT"/
set -uo pipefail
base=/tmp/llmbip
job=${JOB:?JOB=name}
out="$base/out/$job"
mkdir -p "$out"
for f in job.mjs session-worker.js package.json; do [ -f "$base/$f" ] || cp "$base/kit/$f" "$base/"; done
model=$1; shift
ep=${EP:-cuda}
if [ "${1:-}" = cli ]; then
  shift
  [ "${1:-}" = prune-llm ] || { echo "a cli job runs prune-llm, got: $*" >&2; exit 2; }
  shift
  cli=("$base/bin/node" "$base/job.mjs" cli)
  tasks=boolq,piqa,hellaswag,winogrande,arc_easy,arc_challenge,openbookqa
  # the prune-llm output folder holds model.onnx; its tasks run only when the prune succeeded
  setsid bash -c '
    "${@:1:3}" prune-llm "$4" "${@:9}" -o "$5/model" --data "$6" --ep "$7" --json >"$5/prune.json" 2>"$5/log.txt" || exit 1
    [ -z "$8" ] || "${@:1:3}" eval "$5/model/model.onnx" --ppl none --tasks '"$tasks"' --task-limit "$8" --data "$6" --ep "$7" --json >"$5/tasks.json" 2>>"$5/log.txt"
    echo "job done" >>"$5/log.txt"' _ "${cli[@]}" "$model" "$out" "$base/data" "$ep" "${TASK_LIMIT:-}" "$@" </dev/null &
  echo "cli job $job started (pid $!): prune-llm $model $*"
  exit 0
fi
setsid "$base/bin/node" "$base/job.mjs" --model "$model" --data "$base/data" --out "$out" --steps quality \
  --quality-ep "$ep" --deadline-s 100000 --quality-args="$*" >"$out/log.txt" 2>&1 </dev/null &
echo "quality job $job started (pid $!): $model $*"
