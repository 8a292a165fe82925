#!/usr/bin/env bash
# Runs ON the GPU host, in ONE device call, after the kit's staging calls and the CUDA setup (BENCHMARKS.md
# "7B-class shapes, the whole pipeline on one H200"): every pending issue-13 measurement at 4 layers of
# LLaMA-2-7B width, the model generated and exported once, then one command per step, each measured by
# measure.py (wall, peak RSS, peak GPU memory) under its own timeout, and copied to $OUT/f13 as it ends
# (a call cut short still returns what finished; run again while the host is warm, done steps are skipped):
#   1 score-costs   scoring's phases against a plain forward, weight statistics on the EP (was 2.99x)
#   2 score-BUDGET  `score --max-device-memory BUDGET`: each segment's estimate against the memory measured
#   3 bench-*       prefill tok/s and decode ms/step: dense, pruned 20 % (a1) and pruned 20 % --align 64 (a64)
#   4 eval-*        full WikiText-2 tok/s of the same three, ROUNDS rounds in turn (odd FFN widths and fp16 GEMMs)
#   5 session-mem  device memory of one large fp16 initializer's session, Gather (an embedding) or MatMul
#   6 solve-*      the reconstruction solves of o_proj (CPU EP and EP side by side) and down_proj (EP) at 7B shape
#   7 pl, pl-rs    prune-llm 20 % one-shot and --reconstruct --sequential, full WikiText-2 and the speed bench
#   then 2 again at SHAPE2's width (Llama-3-8B) while time is left. STAGES="NAME ..." runs only those steps
#   (a step's model steps included: STAGES="generate.llama2-7b-l4 export.llama2-7b-l4 pl.llama2-7b-l4").
#
# The device calls, from this checkout (.device is git-ignored: each call names what it carries):
#   here:  DEVICE_DIR=$PWD/.device bash tooling/gpu/prepare-kit.sh --cuda   # -> .device/c1 ... c11 and kit-b
#   call 1, carry .device/c1:                   bash tooling/gpu/stage.sh assemble
#   call 2, carry .device/c2 and .device/kit-b:  bash tooling/gpu/stage.sh assemble
#   calls 3-10, carry .device/c3 ... c10:       bash tooling/gpu/stage.sh assemble
#   call 11, carry .device/c11 (10 min):         bash tooling/gpu/stage.sh assemble && SETUP_CUDA=1 TOTAL_S=520 bash tooling/gpu/issue13-followup.sh
# (with the kit already staged and CUDA set up: `bash tooling/gpu/issue13-followup.sh` alone, ~5 min of 10).
# Call 11 returns $OUT/f13; the tables: pnpm bench:tables FILES_AT/f13 --print (or gpu-followup.ts tables DIR).
# Here, a dry run on the CPU EP with the tiny test bed and the repository's dev CLI (every flag checked):
#   DEV=1 EP=cpu HF=../shared/testbed/bip-llama-tiny SHAPE2= BUDGETS="20MB 40MB" SAMPLES=16 EVAL_LIMIT=16 \
#     SMEM_ROWS=1000 SMEM_COLS=64 SOLVE_OPROJ="64 48 64" SOLVE_DOWN="128 100 64" \
#     WORK=/tmp/f13-work OUT=/tmp/f13-out bash tooling/gpu/issue13-followup.sh
# (BASE=DIR instead of DEV=1 runs a kit unpacked in DIR the way stage.sh lays it out in /tmp/llmbip.)
#
# Env: EP (cuda), SHAPE (llama2-7b), LAYERS (4), BUDGETS ("4GB 5GB": at 4 layers one block per segment at
# batch 6, then two at batch 8; 6GB would be one segment), SHAPE2 (llama3-8b; empty: skip), BUDGETS2 (4GB),
# ROUNDS (2), SAMPLES (128), EVAL_LIMIT (windows; default all 2,850), TOTAL_S (540: no step runs past it),
# HF (a checkpoint to use instead of generating SHAPE), WORK (/tmp/llmbip/f13: models, kept while warm),
# SMEM_ROWS / SMEM_COLS / SMEM_VARIANTS (session-memory's table shapes and session options), SOLVE_OPROJ / SOLVE_DOWN ("INPUTS KEPT OUTPUTS" of the solves),
# SETUP_CUDA=1 (run the kit's `setup cuda` first), DEV=1 (Node 20 + tsx on this repository, not the kit),
# BASE (/tmp/llmbip: the staged kit).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
base=${BASE:-/tmp/llmbip}   # where stage.sh puts the kit
abs() { [ -z "$1" ] || realpath -m "$1"; }
OUT=$(abs "${OUT:?set OUT: where the records go (the device call sets it)}")
HF=$(abs "${HF:-}")
work=$(abs "${WORK:-$base/f13}")
cd "$root"
ep=${EP:-cuda}
total=${TOTAL_S:-540}
rounds=${ROUNDS:-2}
samples=${SAMPLES:-128}

if [ "${DEV:-0}" = 1 ]; then
  tsx=(node --conditions=source --import tsx)
  cli=("${tsx[@]}" apps/cli/src/bin.ts)
  gen=("${tsx[@]}" tooling/scripts/synthetic-checkpoint.ts)
  costs=("${tsx[@]}" tooling/bench/score-costs.ts)
  summ=("${tsx[@]}" tooling/bench/gpu-followup.ts)
  smem=("${tsx[@]}" tooling/bench/session-memory.ts)
  solve=("${tsx[@]}" tooling/bench/reconstruct-solve.ts)
  data=$(abs "${DATA:-$root/../shared/data}")
else
  # the bundled CLI beside its session worker, from this kit (run-job.sh copies them the same way)
  cp "$base/kit/job.mjs" "$base/kit/session-worker.js" "$base/kit/package.json" "$base/" || exit 1
  cli=("$base/bin/node" "$base/job.mjs" cli)
  gen=("$base/bin/node" "$base/kit/synthetic-checkpoint.mjs")
  costs=("$base/bin/node" "$base/kit/score-costs.mjs")
  summ=("$base/bin/node" "$base/kit/gpu-followup.mjs")
  smem=("$base/bin/node" "$base/kit/session-memory.mjs")
  solve=("$base/bin/node" "$base/kit/reconstruct-solve.mjs")
  # a kit from before gpu-followup.mjs: the measure record stands in for the summary line
  [ -f "${summ[1]}" ] || summ=(sh -c 'tail -n 1 "$1/$2.log"')
  data=${DATA:-$base/data}
fi

out=$work/records
stages=$out/stages.jsonl
rec=$OUT/f13
mkdir -p "$out" "$rec"
touch "$stages"
started=$(date +%s)
DEADLINE_S=$((total - 10))   # stage-lib: no step starts with under 10 s left
source "$here/stage-lib.sh"

# step NAME CAP COMMAND...: a stage stopped after CAP seconds or at TOTAL_S, whichever is first, then its
# summary line, then the records copied to $OUT
step() {
  local name=$1 cap=$2; shift 2
  if [ -n "${STAGES:-}" ] && [[ " $STAGES " != *" $name "* ]]; then return 0; fi   # stage-lib's filter, quietly
  local left=$((total - ($(date +%s) - started)))
  [ "$left" -lt "$cap" ] && cap=$left
  STAGE_LIMIT_S=$cap STAGE_TAIL=0 stage "$name" "$@"
  local code=$?
  # the output that comes back whole is only the last 12,000 characters: the log's tail only on failure
  [ "$code" = 0 ] || tail -n 3 "$out/$name.log"
  "${summ[@]}" line "$out" "$name"
  cp -r "$out/." "$rec/"
  return $code
}
# a folder a step writes from scratch: removed unless that step is done (a cut-off run leaves it half written)
fresh() { done_stage "$1" || rm -rf "$2"; }

if [ "${SETUP_CUDA:-0}" = 1 ]; then
  sp=/opt/torch/.venv/lib/python3.12/site-packages/nvidia
  [ -f "$base/provider.tar" ] || tar -C "$base" -cf "$base/provider.tar" package
  step setup-cuda 120 "${cli[@]}" setup cuda --from "$base/provider.tar" --cuda-lib "$sp/cu13/lib" --cuda-lib "$sp/cudnn/lib" --json || exit 1
fi

# model SHAPE [CHECKPOINT]: SHAPE at LAYERS generated (or CHECKPOINT as given), exported fp16 with the KV
# cache; sets tag (which names every step of this model), ck (the checkpoint) and dense (the ONNX file)
model() {
  if [ -n "${2:-}" ]; then tag=$(basename "$2"); ck=$2
  else
    tag=$1-l${LAYERS:-4}; ck=$work/$tag
    fresh "generate.$tag" "$ck"
    step "generate.$tag" 90 "${gen[@]}" --shape "$1" --layers "${LAYERS:-4}" --tokenizer apps/cli/demo/bip-llama-tiny --out "$ck" --json || return 1
  fi
  dense=$work/$tag-onnx/dense/model.onnx
  fresh "export.$tag" "$(dirname "$dense")"
  step "export.$tag" 150 "${cli[@]}" export "$ck" -o "$dense" --dtype fp16 --kv-cache --json
}

# 2: the budget planner at BUDGET, its scores in the work folder
score_budget() {
  local b=$1
  step "score-$b.$tag" 150 "${cli[@]}" score "$dense" --tokenizer "$ck" --criterion llm-bip --samples "$samples" --seq-len 128 \
    --ep "$ep" --data "$data" --max-device-memory "$b" -o "$work/$tag-onnx/scores-$b.json" --json
}

# 5 device memory of one large fp16 initializer's session, read by a Gather or a MatMul (the embedding
# segment measured at about twice its table); 6 the reconstruction solves of LLaMA-2-7B's o_proj (20 % of
# its heads cut) on the CPU EP and the EP, and of its down_proj on the EP (the CPU EP's figure: BENCHMARKS)
step session-mem 90 "${smem[@]}" --ep "$ep" --variants "${SMEM_VARIANTS:-arena,device,arena+nopattern,device+nopattern}" ${SMEM_ROWS:+--rows "$SMEM_ROWS"} ${SMEM_COLS:+--cols "$SMEM_COLS"}
solve_shape=(${SOLVE_OPROJ:-4096 3277 4096}); step solve-oproj 120 "${solve[@]}" --n "${solve_shape[0]}" --keep "${solve_shape[1]}" --m "${solve_shape[2]}" --auto --backend "ort,$ep"
solve_shape=(${SOLVE_DOWN:-11008 8806 4096}); step solve-down 120 "${solve[@]}" --n "${solve_shape[0]}" --keep "${solve_shape[1]}" --m "${solve_shape[2]}" --auto --backend "$ep"

model "${SHAPE:-llama2-7b}" "$HF" || { echo "[f13] no model: nothing else can run"; exit 1; }
w=$work/$tag-onnx
# 1
step "score-costs.$tag" 150 "${costs[@]}" "$dense" --ep "$ep" --samples "$samples" --no-host-gram --no-per-matrix-spectral --json "$out/score-costs.$tag.result.json"
budgets=(${BUDGETS:-4GB 5GB})
score_budget "${budgets[0]}"
# 3 and 4 prune from the first budget's scores: 20 %, as planned (a1) and with FFN widths multiples of 64 (a64)
scores=$w/scores-${budgets[0]}.json
models=(dense)
for a in 1 64; do
  step "plan-a$a.$tag" 30 "${cli[@]}" plan "$scores" --ratio 0.2 --align "$a" -o "$w/plan-a$a.json" --json || continue
  fresh "prune-a$a.$tag" "$w/pruned-a$a"
  step "prune-a$a.$tag" 60 "${cli[@]}" prune "$dense" --plan "$w/plan-a$a.json" --compensate --scores "$scores" -o "$w/pruned-a$a" --json && models+=("a$a")
done
onnx() { if [ "$1" = dense ]; then echo "$dense"; else echo "$w/pruned-$1/model.onnx"; fi; }
for m in "${models[@]}"; do step "bench-$m.$tag" 60 "${cli[@]}" bench "$(onnx "$m")" --ep "$ep" --json; done
limit=(); [ -n "${EVAL_LIMIT:-}" ] && limit=(--limit "$EVAL_LIMIT")
for r in $(seq 1 "$rounds"); do
  for m in "${models[@]}"; do
    step "eval-$m-r$r.$tag" 90 "${cli[@]}" eval "$(onnx "$m")" --tokenizer "$ck" --ppl wikitext2 ${limit[@]+"${limit[@]}"} --tasks none --ep "$ep" --data "$data" --json
  done
done
for b in "${budgets[@]:1}"; do score_budget "$b"; done
# 7 issue 16 at this width: prune-llm one-shot (mean compensation) and with --reconstruct --sequential (the
# solves' products on the EP), both with the full WikiText-2 evaluation of dense and pruned and the speed bench
for v in pl pl-rs; do
  extra=(); [ "$v" = pl-rs ] && extra=(--reconstruct --sequential)
  fresh "$v.$tag" "$w/$v"
  step "$v.$tag" 420 "${cli[@]}" prune-llm "$dense" --tokenizer "$ck" --ratio 0.2 ${extra[@]+"${extra[@]}"} --samples "$samples" \
    --ep "$ep" --data "$data" --eval wikitext2 ${limit[@]+"${limit[@]}"} -o "$w/$v" --json
done

# 2 at the second width, while time is left
if [ -n "${SHAPE2-llama3-8b}" ]; then
  model "${SHAPE2-llama3-8b}" && for b in ${BUDGETS2:-4GB}; do score_budget "$b"; done
fi
echo "[f13] done in $(( $(date +%s) - started )) s; records in $rec (markdown: gpu-followup.ts tables $rec)"
