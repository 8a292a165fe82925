#!/usr/bin/env bash
# Runs ON the GPU host as soon as Node and kit-b are there (stage.sh assemble), while the rest of the kit
# (the CUDA provider, then onnxruntime-node) still travels, in a process of its own (setsid: it outlives the
# device call; the host stays warm as long as calls follow each other): generate every shape's synthetic
# checkpoint, run the PyTorch reference on each (alone on the GPU: our CUDA EP is not set up yet), then, once
# onnxruntime-node is there, export each to fp16 ONNX and drop its checkpoint's weights (the tokenizer
# stays). The host's 64 GB disk holds two checkpoints and one export, or one checkpoint and two exports.
# pipeline-7b.sh records each stage in /tmp/llmbip/out-SHAPE/stages.jsonl; the foreground pipeline-7b.sh
# later skips what is done.
#   [LAYERS=N] bash tooling/gpu/background-7b.sh SHAPE... (from the repository root; log: /tmp/llmbip/background.log)
set -uo pipefail
base=/tmp/llmbip
rm -rf "$base/gpu" && cp -r tooling/gpu "$base/gpu"            # the device call's copy of the tree may be replaced
rm -rf "$base/tokenizer" && cp -r apps/cli/demo/bip-llama-tiny "$base/tokenizer"
setsid bash -c '
  base='"$base"'
  run() { DEADLINE_S=100000 bash "$base"/gpu/pipeline-7b.sh "$base/$1" "$base/w-$1" "$base/out-$1" cuda; }
  for shape in "$@"; do
    [ -f "$base/$shape/config.json" ] || "$base"/bin/node "$base"/kit/synthetic-checkpoint.mjs --shape "$shape" --tokenizer "$base"/tokenizer ${LAYERS:+--layers "$LAYERS"} --out "$base/$shape" || exit 1
  done
  # the PyTorch references need no onnxruntime-node: they run while it travels, alone on the GPU
  for shape in "$@"; do STAGES=torch-eval run "$shape" || exit 1; done
  # the export runs the bundled CLI, which loads onnxruntime-node: it travels last
  while [ ! -d "$base/node_modules/onnxruntime-node" ]; do sleep 5; done
  for shape in "$@"; do
    STAGES=export DROP_WEIGHTS=1 run "$shape" || exit 1
    echo "[background] $shape exported $(date +%T)"
  done' background "$@" >"$base/background.log" 2>&1 < /dev/null &
echo "background started: $* (log $base/background.log)"
