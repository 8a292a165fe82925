#!/usr/bin/env bash
# iterative pruning chains: NAME R1 R2 ... (each ratio relative to the previous step's model)
set -e
cd /work/main
name=$1; shift
model=../shared/testbed/bip-llama-small
n=0; last=$#
for r in "$@"; do
  n=$((n+1))
  ev=none; [ $n = $last ] && ev=wikitext2,ptb
  out=/tmp/iter/$name-s$n
  rm -rf $out
  pnpm -s llm-bip prune-llm $model --ratio $r --samples ${SAMPLES:-128} --seed ${SEED:-0} --reconstruct --sequential --align 1 --eval $ev --no-bench --ep cpu -o $out --json > $out.json 2> $out.log
  model=$out/model.onnx
  echo "$name step $n ratio $r done $(date +%T)"
done
