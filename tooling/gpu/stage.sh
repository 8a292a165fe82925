#!/usr/bin/env bash
# Runs ON the GPU host, inside a device call: moves what this call carried into /tmp/llmbip, which
# the host keeps between back-to-back calls while it stays warm. Big files arrive in pieces
# (64 MiB travel per call); `stage.sh assemble` joins them.
#   .device/c*/ (pieces, tars)      -> /tmp/llmbip/parts/
#   .device/kit-*/* (the kit's halves) -> /tmp/llmbip/kit/ (unpacked once)
# `assemble` unpacks what is complete and leaves a model whose pieces are not all there yet.
set -euo pipefail
dest=/tmp/llmbip
mkdir -p "$dest/parts" "$dest/kit"
for d in .device/c*/; do [ -d "$d" ] && cp -r "$d". "$dest/parts/"; done
for d in .device/kit-*/; do [ -d "$d" ] && cp -r "$d". "$dest/kit/"; done
if [ "${1:-}" = assemble ]; then
  cd "$dest/parts"
  for first in *.part.aa; do
    [ -e "$first" ] || continue
    name=${first%.part.aa}
    cat "$name".part.* >"$dest/$name"
    # list before extracting: a truncated tar would leave a truncated file behind
    if tar -tf "$dest/$name" >/dev/null 2>&1 && tar -C "$dest" -xf "$dest/$name"; then
      echo "assembled $name: $(stat -c %s "$dest/$name") bytes"
      rm -f "$name".part.*
    else
      echo "$name: not all pieces here yet"
    fi
    rm -f "$dest/$name"
  done
  for t in "$dest/parts"/*.tar; do
    [ -e "$t" ] && tar -C "$dest" -xf "$t"
  done
  for d in "$dest/kit/data.tar.xz" "$dest/parts/data.tar.xz"; do if [ -f "$d" ] && [ ! -d "$dest/data" ]; then tar -C "$dest" -xJf "$d"; fi; done
  if [ -f "$dest/kit/node.xz" ] && [ ! -x "$dest/bin/node" ]; then
    mkdir -p "$dest/bin" && xz -dc "$dest/kit/node.xz" >"$dest/bin/node" && chmod +x "$dest/bin/node"
  fi
  if [ -f "$dest/kit/ort.tar.xz" ] && [ ! -d "$dest/node_modules/onnxruntime-node" ]; then tar -C "$dest" -xJf "$dest/kit/ort.tar.xz"; fi
fi
ls -la "$dest"
