#!/usr/bin/env bash
# Runs ON the GPU host after stage.sh assemble: several quality benchmarks side by side, one process each
# (background-quality.sh: they outlive the device call while the host stays warm), then waits until all have
# ended or WAIT_S has passed, copying /tmp/llmbip/out/. to $OUT every minute and at the end (a call cut short
# still returns what finished). A job whose folder exists is not started again, so the next back-to-back call
# with the same JOBS_FILE just waits on the same jobs and collects.
#   [EP=cuda] [SETUP_CUDA=1] [WAIT_S=540] bash tooling/gpu/quality-jobs.sh MODEL_DIR JOBS_FILE
# JOBS_FILE: one job a line, "NAME bench:quality args..." (e.g. "s1024-seed1 --methods ... --samples 1024
# --seeds 1") or "NAME cli prune-llm args..." (background-quality.sh; TASK_LIMIT=N adds the tasks); # starts a comment. SETUP_CUDA=1 installs the CUDA EP from the kit first (prepare-kit.sh --cuda).
# The device calls (issue 16's sweep, BENCHMARKS.md "Issue 16, fifth round"):
#   here:   DEVICE_DIR=$PWD/.device bash tooling/gpu/prepare-kit.sh --cuda ../shared/testbed/bip-llama-small
#   calls 1..N-1, carry .device/cK (and .device/kit-b with c2): bash tooling/gpu/stage.sh assemble
#   call N, carry .device/cN:  bash tooling/gpu/stage.sh assemble && SETUP_CUDA=1 bash tooling/gpu/quality-jobs.sh \
#                                /tmp/llmbip/testbed/bip-llama-small tooling/gpu/issue16-jobs.txt
#   then, while warm:           bash tooling/gpu/quality-jobs.sh /tmp/llmbip/testbed/bip-llama-small tooling/gpu/issue16-jobs.txt
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
base=/tmp/llmbip
model=${1:?MODEL_DIR}
jobs=${2:?JOBS_FILE}
wait_s=${WAIT_S:-540}
: "${OUT:?set OUT: where the results go (the device call sets it)}"
started=$(date +%s)
if [ "${SETUP_CUDA:-0}" = 1 ] && [ ! -f "$base/cuda-ready" ]; then
  sp=/opt/torch/.venv/lib/python3.12/site-packages/nvidia
  cp "$base/kit/job.mjs" "$base/kit/session-worker.js" "$base/kit/package.json" "$base/"
  [ -f "$base/provider.tar" ] || tar -C "$base" -cf "$base/provider.tar" package
  "$base/bin/node" "$base/job.mjs" cli setup cuda --from "$base/provider.tar" --cuda-lib "$sp/cu13/lib" --cuda-lib "$sp/cudnn/lib" --json >"$base/setup-cuda.json" 2>&1 \
    && touch "$base/cuda-ready" || { tail -n 5 "$base/setup-cuda.json"; exit 1; }
fi
names=()
while read -r name args; do
  [ -z "$name" ] || [[ $name == \#* ]] && continue
  names+=("$name")
  [ -d "$base/out/$name" ] && continue
  # shellcheck disable=SC2086 # the job's arguments are words
  JOB=$name EP=${EP:-cuda} bash "$here/background-quality.sh" "$model" $args
done <"$jobs"
# results only: a cli job's pruned model stays on the host (too big to come back)
collect() { mkdir -p "$OUT" && tar -C "$base/out" --exclude='./*/model' -cf - . | tar -C "$OUT" -xf -; }
running() { pgrep -f "$base/job.mjs (--model|cli prune-llm|cli eval)" >/dev/null; }
while running && [ $(($(date +%s) - started)) -lt "$wait_s" ]; do
  sleep 20
  [ $(( ($(date +%s) - started) % 60 )) -lt 20 ] && collect
done
collect
# each job's finished rows (bench:quality's "METHOD @ RATIO (seed S) in T s: SET PPL, ..." lines), then its last line
# or a cli job's perplexities and task accuracies
for n in "${names[@]}"; do
  echo "== $n"; grep ' @ ' "$base/out/$n/log.txt" 2>/dev/null | sed 's/^\[[^]]*\] //'
  [ -s "$base/out/$n/prune.json" ] && "$base/bin/node" "$here/summarise-cli-job.mjs" "$base/out/$n"
  tail -n 1 "$base/out/$n/log.txt" 2>/dev/null
done
running && echo "still running after ${wait_s} s: call again while the host is warm to wait and collect"
exit 0
