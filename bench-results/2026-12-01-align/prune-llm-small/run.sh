#!/bin/bash
# side by side: the default pipeline (LLM-BIP, global-kind, compensation) at align 1 and 64, full WikiText-2 / PTB
cd /work/main
run() { r=$1; a=$2; pnpm -s llm-bip prune-llm ../shared/testbed/bip-llama-small --ratio $r --align $a --eval wikitext2,ptb --no-bench -o /tmp/alignq/out-$r-$a --json > /tmp/alignq/r$r-a$a.json 2>/tmp/alignq/r$r-a$a.err; }
(run 0.2 1; run 0.5 1) &
(run 0.2 64; run 0.5 64) &
wait
echo done > /tmp/alignq/DONE
