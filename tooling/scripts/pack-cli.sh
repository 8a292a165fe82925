#!/usr/bin/env bash
# Build and pack every publishable workspace package (packages/*, the CLI in apps/cli) into one
# folder, as the registry would get them: `pnpm pack` turns each `workspace:^` dependency into the
# sibling's real version (^0.1.0). Install them ALL IN ONE npm command, so that the CLI's @llm-bip/*
# dependencies resolve to these tarballs and not to the registry:
#   ONNXRUNTIME_NODE_INSTALL=skip npm install -g OUT_DIR/*.tgz
# Usage: tooling/scripts/pack-cli.sh [OUT_DIR]   (default: a new temp folder; its path is printed last)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="${1:-$(mktemp -d "${TMPDIR:-/tmp}/llm-bip-packed-XXXXXX")}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
cd "$root"
# pack takes dist/ as it finds it: build first (turbo skips what is up to date)
pnpm run build >&2
# an older version's tarballs beside the new ones would be installed too
rm -f "$out"/llm-bip-*.tgz
for dir in packages/* apps/*; do
  [ -f "$dir/package.json" ] || continue
  # private workspace packages (test scaffolding, tsconfig) are never published
  [ "$(node -p "require('./$dir/package.json').private === true")" = true ] && continue
  (cd "$dir" && pnpm pack --pack-destination "$out" >/dev/null)
done
ls "$out"/*.tgz >&2
echo "$out"
