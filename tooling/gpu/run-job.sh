#!/usr/bin/env bash
# Runs ON the GPU host after stage.sh assemble: the carried Node 22 + onnxruntime-node (WebGPU EP
# through Dawn on Vulkan, with the carried loader libraries) runs the bundled job.
#   [JOB=name] [LIMIT_S=570] bash tooling/gpu/run-job.sh MODEL_DIR [job args...]
# Results accumulate in /tmp/llmbip/out/$JOB (kept while the host stays warm, so a job split over
# several calls can pass --resume in its quality args) and are copied to $OUT/$JOB when the job ends
# or LIMIT_S runs out, whichever is first: a device call that hits its own limit returns nothing.
set -uo pipefail
base=/tmp/llmbip
for f in "$base"/kit/gl/*.deb; do dpkg -x "$f" /; done
ldconfig
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
cp "$base/kit/job.mjs" "$base/kit/session-worker.js" "$base/kit/package.json" "$base/"
job=${JOB:-job}
keep="$base/out/$job"
mkdir -p "$keep" "$OUT/$job"
model=$1; shift
timeout --signal=INT --kill-after=10 "${LIMIT_S:-570}" "$base/bin/node" "$base/job.mjs" --model "$model" --data "$base/data" --out "$keep" "$@" 2>&1 | tee -a "$keep/log.txt"
cp -r "$keep/." "$OUT/$job/"
