#!/usr/bin/env bash
# Runs ON the GPU host after stage.sh assemble: the carried Node 22 + onnxruntime-node (WebGPU EP
# through Dawn on Vulkan, with the carried loader libraries) runs the bundled job.
#   bash tooling/gpu/run-job.sh MODEL_DIR [job args...]
set -uo pipefail
base=/tmp/llmbip
for f in "$base"/kit/gl/*.deb; do dpkg -x "$f" /; done
ldconfig
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
cp "$base/kit/job.mjs" "$base/job.mjs"
mkdir -p "$OUT/job"
model=$1; shift
"$base/bin/node" "$base/job.mjs" --model "$model" --data "$base/data" --out "$OUT/job" "$@" 2>&1 | tee "$OUT/job/log.txt"
