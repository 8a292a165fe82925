"""PyTorch eager fp16 reference for evaluation throughput: WikiText-2 perplexity windows through the HF
model on the GPU, timed, so BENCHMARKS.md can put llm-bip's ONNX Runtime tokens/s beside it (same GPU,
same shape, same windows).

Runs on the GPU machine, never in CI:
    python tooling/gpu/torch_eval_speed.py HF_DIR TEXT_FILE OUT.json [--seq 128] [--batch 16] [--limit N]
TEXT_FILE is the evaluation string our eval builds (e.g. wikitext2.txt dumped from loadTextDataset);
it is tokenized with HF_DIR/tokenizer.json (Python `tokenizers`), BOS prepended once, cut into
non-overlapping windows of --seq tokens, each window scored on its seq - 1 next-token predictions:
llm-bip's perplexity protocol. Attention is "eager" (the plain PyTorch path); weights fp16.
"""
import argparse
import json
import math
import os
import time

import tokenizers
import torch
from transformers import AutoModelForCausalLM


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model_dir")
    ap.add_argument("text")
    ap.add_argument("out")
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--bos", type=int, default=1)
    args = ap.parse_args()

    tok = tokenizers.Tokenizer.from_file(os.path.join(args.model_dir, "tokenizer.json"))
    text = open(args.text, encoding="utf-8").read()
    ids = [args.bos] + tok.encode(text, add_special_tokens=False).ids
    n = len(ids) // args.seq
    if args.limit:
        n = min(n, args.limit)
    windows = torch.tensor(ids[: n * args.seq], dtype=torch.long).view(n, args.seq)

    t0 = time.time()
    model = AutoModelForCausalLM.from_pretrained(args.model_dir, dtype=torch.float16, attn_implementation="eager").cuda().eval()
    load_s = time.time() - t0
    torch.cuda.reset_peak_memory_stats()
    nll = 0.0
    # one warm-up batch, not timed
    with torch.no_grad():
        model(windows[: args.batch].cuda())
    torch.cuda.synchronize()
    t0 = time.time()
    with torch.no_grad():
        for i in range(0, n, args.batch):
            x = windows[i : i + args.batch].cuda()
            logits = model(x).logits.float()
            logp = torch.log_softmax(logits[:, :-1], dim=-1)
            nll -= logp.gather(-1, x[:, 1:, None]).sum().item()
    torch.cuda.synchronize()
    seconds = time.time() - t0
    predicted = n * (args.seq - 1)
    result = {
        "windows": n,
        "seq": args.seq,
        "batch": args.batch,
        "predicted_tokens": predicted,
        "seconds": seconds,
        "tokens_per_sec": n * args.seq / seconds,
        "ppl": math.exp(nll / predicted),
        "load_seconds": load_s,
        "peak_gpu_mib": torch.cuda.max_memory_allocated() / 2**20,
        "torch": torch.__version__,
        "attn": "eager",
        "dtype": "float16",
    }
    print(json.dumps(result))
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
