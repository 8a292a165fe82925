#!/usr/bin/env bash
# Runs ON the GPU host (after stage.sh assemble and the job's `setup` step, so the CUDA EP is installed): one
# quality benchmark (tooling/bench/quality.ts, bundled in job.mjs) in a process of its own (setsid: it outlives
# the device call; the host keeps it while calls follow each other). Several may run side by side, each with its
# own JOB name; results go to /tmp/llmbip/out/JOB/quality.json after every row (log: .../JOB/log.txt).
#   JOB=name [EP=cuda] bash tooling/gpu/background-quality.sh MODEL_DIR [bench:quality args...]
# Collect in a later call: cp -r /tmp/llmbip/out/. "$OUT"/
set -uo pipefail
base=/tmp/llmbip
job=${JOB:?JOB=name}
out="$base/out/$job"
mkdir -p "$out"
for f in job.mjs session-worker.js package.json; do [ -f "$base/$f" ] || cp "$base/kit/$f" "$base/"; done
model=$1; shift
setsid "$base/bin/node" "$base/job.mjs" --model "$model" --data "$base/data" --out "$out" --steps quality \
  --quality-ep "${EP:-cuda}" --deadline-s 100000 --quality-args="$*" >"$out/log.txt" 2>&1 </dev/null &
echo "quality job $job started (pid $!): $model $*"
